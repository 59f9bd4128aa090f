//! The JSON bodies of the RPC door. Success: `{RequestId, Success: true, Code: "200",
//! Message: "success", Data}` (list calls add `Count`, `PageNumber`, `PageSize`); error:
//! `{RequestId, Code, Message, Success: false}`. The vendor's example responses, and the
//! SDK's response models of every action, carry all five of `Code`, `Message`, `Success`,
//! `RequestId` and `Data`, so a success has a `Message` too. The SDK turns an error's `Code` into its exception's `code` and embeds
//! `Message` and `RequestId` in the exception's message.

use crate::appstream::RpcError;
use serde_json::{Map, Value, json};

/// The content type of every response (the SDK parses anything but `text/xml` as JSON).
pub const CONTENT_TYPE: &str = "application/json;charset=utf-8";

/// A response ready to send: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcResponse {
    pub status: u16,
    pub body: Value,
}

impl RpcResponse {
    pub fn body_string(&self) -> String {
        self.body.to_string()
    }
}

/// A fresh request id, `8-4-4-4-12` upper-case hex (UUID-shaped) from two draws of `random`.
pub fn request_id(mut random: impl FnMut() -> u64) -> String {
    let hi = random();
    let lo = random();
    format!(
        "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

/// The `Message` of every success.
pub const SUCCESS_MESSAGE: &str = "success";

/// HTTP 200 with `Data`.
pub fn success(request_id: &str, data: Value) -> RpcResponse {
    RpcResponse {
        status: 200,
        body: json!({
            "RequestId": request_id,
            "Success": true,
            "Code": "200",
            "Message": SUCCESS_MESSAGE,
            "Data": data,
        }),
    }
}

/// HTTP 200 with `Data` and the paging fields of a list call.
pub fn success_page(
    request_id: &str,
    data: Vec<Value>,
    count: u64,
    page_number: u32,
    page_size: u32,
) -> RpcResponse {
    let mut resp = success(request_id, Value::Array(data));
    if let Value::Object(map) = &mut resp.body {
        map.insert("Count".into(), json!(count));
        map.insert("PageNumber".into(), json!(page_number));
        map.insert("PageSize".into(), json!(page_size));
    }
    resp
}

/// The error's status with `{RequestId, Code, Message, Success: false}`.
pub fn error(request_id: &str, err: &RpcError) -> RpcResponse {
    let mut map = Map::new();
    map.insert("RequestId".into(), json!(request_id));
    map.insert("Code".into(), json!(err.code));
    map.insert("Message".into(), json!(err.message));
    map.insert("Success".into(), json!(false));
    RpcResponse {
        // Only 4xx/5xx make the SDK raise; anything else would read as a success.
        status: if (400..600).contains(&err.status) {
            err.status
        } else {
            500
        },
        body: Value::Object(map),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_shaped_upper_case_and_fresh() {
        let mut n = 0u64;
        let mut next = || {
            n = n.wrapping_add(0x0123_4567_89AB_CDEF);
            n
        };
        let a = request_id(&mut next);
        let b = request_id(&mut next);
        assert_ne!(a, b);
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
        assert!(
            a.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        assert_eq!(request_id(|| 0), "00000000-0000-0000-0000-000000000000");
        assert_eq!(
            request_id(|| u64::MAX),
            "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"
        );
    }

    #[test]
    fn success_carries_request_id_code_200_and_data() {
        let r = success("RID", json!({"ImageId": "imgc-1"}));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            json!({"RequestId": "RID", "Success": true, "Code": "200", "Message": "success",
                "Data": {"ImageId": "imgc-1"}})
        );
    }

    #[test]
    fn list_success_adds_paging_fields() {
        let r = success_page("RID", vec![json!({"ImageId": "imgc-1"})], 31, 2, 10);
        assert_eq!(r.status, 200);
        assert_eq!(r.body["Count"], json!(31));
        assert_eq!(r.body["PageNumber"], json!(2));
        assert_eq!(r.body["PageSize"], json!(10));
        assert_eq!(r.body["Data"][0]["ImageId"], json!("imgc-1"));
        assert_eq!(r.body["Success"], json!(true));
        assert_eq!(r.body["Message"], json!("success"));
    }

    #[test]
    fn error_body_has_code_message_and_status() {
        let r = error(
            "RID",
            &RpcError::bad_request("Image.NotExist", "no such image"),
        );
        assert_eq!(r.status, 400);
        assert_eq!(
            r.body,
            json!({"RequestId": "RID", "Code": "Image.NotExist", "Message": "no such image", "Success": false})
        );
        let parsed: Value = serde_json::from_str(&r.body_string()).unwrap_or(Value::Null);
        assert_eq!(parsed["Code"], json!("Image.NotExist"));
    }

    #[test]
    fn internal_error_is_a_400_as_in_the_vendors_table() {
        let r = error("RID", &RpcError::internal("boom"));
        assert_eq!(
            (r.status, r.body["Code"].clone()),
            (400, json!("InternalError"))
        );
        assert_eq!(r.body["Message"], json!("boom"));
    }

    #[test]
    fn an_error_never_goes_out_as_a_success_status() {
        let r = error("RID", &RpcError::new(200, "Weird", "x"));
        assert_eq!(r.status, 500);
        let r = error("RID", &RpcError::new(404, "InvalidAction.NotFound", "x"));
        assert_eq!(r.status, 404);
    }
}
