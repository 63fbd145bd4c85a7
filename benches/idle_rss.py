# Resident memory per idle connection of the blocking echo_server example.
# Opens N WebSocket connections over loopback (each echoes one message, then
# sits idle), reads the server's VmRSS and thread count from /proc, closes all.
#   cargo build --release --example echo_server && python3 benches/idle_rss.py 1000
import socket, subprocess, time, base64, os, sys
N=int(sys.argv[1]) if len(sys.argv) > 1 else 1000
p=subprocess.Popen(["target/release/examples/echo_server","--addr","127.0.0.1:0"],stdout=subprocess.PIPE,stderr=subprocess.DEVNULL,text=True)
line=p.stdout.readline(); addr=line.split("ws://")[1].split("/")[0]; host,port=addr.split(":")
def rss(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
def threads(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("Threads"): return int(l.split()[1])
time.sleep(0.3)
r0=rss(p.pid)
socks=[]
for i in range(N):
    s=socket.create_connection((host,int(port)))
    key=base64.b64encode(os.urandom(16)).decode()
    s.sendall(f"GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    resp=b""
    while b"\r\n\r\n" not in resp: resp+=s.recv(4096)
    assert resp.startswith(b"HTTP/1.1 101"), resp
    # one masked text frame "hi" and read the echo, so the connection has done a read cycle
    s.sendall(bytes([0x81,0x82,1,2,3,4,ord('h')^1,ord('i')^2]))
    e=s.recv(16); assert e==b"\x81\x02hi", e
    socks.append(s)
time.sleep(1.0)
r1=rss(p.pid)
print(f"{N} idle connections: RSS {r0} KiB -> {r1} KiB, {(r1-r0)/N:.1f} KiB per connection, threads {threads(p.pid)}")
for s in socks: s.close()
p.kill(); p.wait()
