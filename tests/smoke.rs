mod common;
use common::*;
use rfc6455::{Event, Message};

#[test]
fn pair_exchanges_a_message() {
    let mut pair = Pair::new();
    pair.client.send_text("hi").unwrap();
    let (_, at_server) = pair.drive(1);
    assert_eq!(at_server, vec![Event::Message(Message::Text("hi".into()))]);
}
