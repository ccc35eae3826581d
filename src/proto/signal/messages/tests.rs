use super::*;

#[test]
fn parses_every_client_message() {
    assert_eq!(parse_client(r#"{"type":"auth","token":"t"}"#).unwrap(), ClientMessage::Auth { token: "t".into() });
    assert_eq!(
        parse_client(r#"{"type":"refresh","token":"t"}"#).unwrap(),
        ClientMessage::Refresh { token: "t".into() }
    );
    assert_eq!(parse_client(r#"{"type":"ping","id":7}"#).unwrap(), ClientMessage::Ping { id: Some(7) });
    assert_eq!(parse_client(r#"{"type":"ping"}"#).unwrap(), ClientMessage::Ping { id: None });
    let s = parse_client(r#"{"type":"signal","to":{"gid":"g","pid":"p"},"data":{"sdp":"x"},"id":3}"#).unwrap();
    let ClientMessage::Signal { to, data, id } = s else { panic!() };
    assert_eq!((to.gid.as_str(), to.pid.as_str(), id), ("g", "p", Some(3)));
    assert_eq!(data.get(), r#"{"sdp":"x"}"#);
    let s = parse_client(r#"{"type":"signal","to":{"gid":"g","pid":"p"}}"#).unwrap();
    let ClientMessage::Signal { data, .. } = s else { panic!() };
    assert_eq!(data.get(), "null", "no data relays null");
}

#[test]
fn a_signal_relays_its_data_text_as_sent() {
    let text = r#"{"type":"signal","to":{"gid":"g","pid":"p"},"data":{"b": [1, 2.50, "\u00e9"], "a": null}}"#;
    let ClientMessage::Signal { data, .. } = parse_client(text).unwrap() else { panic!() };
    let from = PeerAddr { gid: GroupId::parse("room.1").unwrap(), pid: PeerId::parse("a@b").unwrap() };
    let out = out::signal(&from, &data);
    assert_eq!(
        out,
        r#"{"type":"signal","from":{"gid":"room.1","pid":"a@b"},"data":{"b": [1, 2.50, "\u00e9"], "a": null}}"#
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["data"]["b"][2], "é");
}

#[test]
fn bad_messages_are_rejected_with_their_id() {
    let cases = [
        ("not json", None),
        ("[1,2]", None),
        (r#"{"id":4}"#, Some(4)),
        (r#"{"type":"dance","id":5}"#, Some(5)),
        (r#"{"type":"auth","token":42,"id":6}"#, Some(6)),
        (r#"{"type":"signal","to":"bob","id":7}"#, Some(7)),
        (r#"{"type":"signal","to":{"gid":"a b","pid":"p"},"id":8}"#, Some(8)),
        (r#"{"type":"signal","to":{"gid":"g","pid":"p"},"id":"nine"}"#, None),
        (r#"{"type":7}"#, None),
        (r#"{"type":"ping","id":-1}"#, None),
        (r#"{"type":"signal","id":10}"#, Some(10)),
        (r#"{"type":"signal","to":{"gid":"g","pid":"p"},"data":{"x":}"#, None),
        ("", None),
        ("   {", None),
    ];
    for (text, id) in cases {
        let r = parse_client(text).unwrap_err();
        assert_eq!(r.id, id, "{text}");
    }
}

#[test]
fn server_messages_have_the_contract_shape() {
    let me = PeerAddr { gid: GroupId::parse("g").unwrap(), pid: PeerId::parse("p").unwrap() };
    let w: Value =
        serde_json::from_str(&out::welcome(&me, 99, &serde_json::json!([]), std::slice::from_ref(&me))).unwrap();
    assert_eq!(w["type"], "welcome");
    assert_eq!(w["self"]["pid"], "p");
    assert_eq!(w["peers"][0]["gid"], "g");
    let e: Value = serde_json::from_str(&out::error(Some(3), ErrorCode::PeerUnavailable, "x")).unwrap();
    assert_eq!(e["code"], "peer_unavailable");
    assert_eq!(e["id"], 3);
    let e: Value = serde_json::from_str(&out::error(None, ErrorCode::BadRequest, "x")).unwrap();
    assert!(e.get("id").is_none());
    let p: Value = serde_json::from_str(&out::presence(false, &me)).unwrap();
    assert_eq!(p["event"], "leave");
}
