//! S3's XML error document, with the codes, statuses and exact messages of
//! `reference/s3-post.md`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// S3's limit on the form fields that precede the file.
pub const MAX_PRE_DATA_BYTES: u64 = 20 * 1024;

/// One S3 error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    /// The `<Code>`, e.g. `SignatureDoesNotMatch`.
    pub code: &'static str,
    /// The HTTP status.
    pub status: StatusCode,
    /// The `<Message>`, to the letter.
    pub message: String,
    /// Elements between `<Message>` and `<RequestId>`, in order.
    pub extras: Vec<(&'static str, String)>,
    /// What went wrong inside, for the log (never the client).
    cause: Option<crate::error::InternalCause>,
}

impl S3Error {
    fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
            extras: Vec::new(),
            cause: None,
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extras.push((name, value.into()));
        self
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            "PreconditionFailed",
            StatusCode::PRECONDITION_FAILED,
            "At least one of the pre-conditions you specified did not hold",
        )
        .with(
            "Condition",
            "Bucket POST must be of the enclosure-type multipart/form-data",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            "MethodNotAllowed",
            StatusCode::METHOD_NOT_ALLOWED,
            "The specified method is not allowed against this resource.",
        )
        .with("Method", "POST")
        .with("ResourceType", "OBJECT")
    }

    pub fn malformed_post() -> Self {
        Self::new(
            "MalformedPOSTRequest",
            StatusCode::BAD_REQUEST,
            "The body of your POST request is not well-formed multipart/form-data.",
        )
    }

    /// A required field (key or a signature field) is absent or came after the file.
    pub fn missing_field(name: &str) -> Self {
        Self::new(
            "InvalidArgument",
            StatusCode::BAD_REQUEST,
            format!("Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."),
        )
        .with("ArgumentName", name)
        .with("ArgumentValue", "")
    }

    /// An `Authorization` header on a form POST, whose credentials are the form's (the answer
    /// S3 is recorded to give an authorization it cannot read; FIDELITY.md).
    pub fn unsupported_authorization(value: &str) -> Self {
        Self::new(
            "InvalidArgument",
            StatusCode::BAD_REQUEST,
            "Unsupported Authorization Type",
        )
        .with("ArgumentName", "Authorization")
        .with("ArgumentValue", value)
    }

    pub fn file_count(count: usize) -> Self {
        Self::new(
            "InvalidArgument",
            StatusCode::BAD_REQUEST,
            "POST requires exactly one file upload per request.",
        )
        .with("ArgumentName", "file")
        .with("ArgumentValue", count.to_string())
    }

    pub fn malformed_credential() -> Self {
        Self::new(
            "InvalidArgument",
            StatusCode::BAD_REQUEST,
            "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
        )
        .with("ArgumentName", "x-amz-credential")
        .with("ArgumentValue", "")
    }

    pub fn access_denied() -> Self {
        Self::new("AccessDenied", StatusCode::FORBIDDEN, "Access Denied")
    }

    fn policy_denied(detail: impl std::fmt::Display) -> Self {
        Self::new(
            "AccessDenied",
            StatusCode::FORBIDDEN,
            format!("Invalid according to Policy: {detail}"),
        )
    }

    pub fn policy_expired() -> Self {
        Self::policy_denied("Policy expired.")
    }

    /// `condition` is the failing condition written back as JSON, e.g. `["eq", "$key", "v"]`.
    pub fn condition_failed(condition: &str) -> Self {
        Self::policy_denied(format_args!("Policy Condition failed: {condition}"))
    }

    pub fn extra_input_field(name: &str) -> Self {
        Self::policy_denied(format_args!("Extra input fields: {name}"))
    }

    pub fn signature_does_not_match(
        access_key_id: &str,
        provided: &str,
        string_to_sign: &str,
    ) -> Self {
        let bytes: Vec<String> = string_to_sign.bytes().map(|b| format!("{b:02x}")).collect();
        Self::new(
            "SignatureDoesNotMatch",
            StatusCode::FORBIDDEN,
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
        .with("AWSAccessKeyId", access_key_id)
        .with("SignatureProvided", provided)
        .with("StringToSign", string_to_sign)
        .with("StringToSignBytes", bytes.join(" "))
    }

    pub fn invalid_access_key_id(access_key_id: &str) -> Self {
        Self::new(
            "InvalidAccessKeyId",
            StatusCode::FORBIDDEN,
            "The AWS Access Key Id you provided does not exist in our records.",
        )
        .with("AWSAccessKeyId", access_key_id)
    }

    /// `detail` follows `Invalid Policy: `.
    pub fn invalid_policy(detail: impl std::fmt::Display) -> Self {
        Self::new(
            "InvalidPolicyDocument",
            StatusCode::BAD_REQUEST,
            format!("Invalid Policy: {detail}"),
        )
    }

    pub fn entity_too_large(proposed: u64, max: u64) -> Self {
        Self::new(
            "EntityTooLarge",
            StatusCode::BAD_REQUEST,
            "Your proposed upload exceeds the maximum allowed size",
        )
        .with("ProposedSize", proposed.to_string())
        .with("MaxSizeAllowed", max.to_string())
    }

    /// An HTTP/1.1 request without exactly one `Host`.
    pub fn host_required() -> Self {
        Self::new(
            "InvalidRequest",
            StatusCode::BAD_REQUEST,
            "An HTTP/1.1 request must carry exactly one Host header.",
        )
    }

    /// A key over S3's 1,024 bytes.
    pub fn key_too_long(size: usize, max: usize) -> Self {
        Self::new(
            "KeyTooLongError",
            StatusCode::BAD_REQUEST,
            "Your key is too long.",
        )
        .with("Size", size.to_string())
        .with("MaxSizeAllowed", max.to_string())
    }

    pub fn entity_too_small(proposed: u64, min: u64) -> Self {
        Self::new(
            "EntityTooSmall",
            StatusCode::BAD_REQUEST,
            "Your proposed upload is smaller than the minimum allowed size",
        )
        .with("ProposedSize", proposed.to_string())
        .with("MinSizeAllowed", min.to_string())
    }

    pub fn pre_data_too_large() -> Self {
        Self::new(
            "MaxPostPreDataLengthExceeded",
            StatusCode::BAD_REQUEST,
            "Your POST request fields preceeding the upload file was too large.",
        )
        .with("MaxPostPreDataLengthBytes", MAX_PRE_DATA_BYTES.to_string())
    }

    pub fn invalid_uri() -> Self {
        Self::new(
            "InvalidURI",
            StatusCode::BAD_REQUEST,
            "Couldn't parse the specified URI.",
        )
    }

    pub fn no_such_bucket(bucket: &str) -> Self {
        Self::new(
            "NoSuchBucket",
            StatusCode::NOT_FOUND,
            "The specified bucket does not exist",
        )
        .with("BucketName", bucket)
    }

    /// S3's generic 500, its cause kept for the log (see [`crate::error::InternalCause`]).
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            cause: Some(crate::error::InternalCause::new(cause)),
            ..Self::internal_error()
        }
    }

    /// S3's generic 500.
    pub fn internal_error() -> Self {
        Self::new(
            "InternalError",
            StatusCode::INTERNAL_SERVER_ERROR,
            "We encountered an internal error. Please try again.",
        )
    }

    /// S3's 400 for a connection that stopped sending.
    pub fn request_timeout() -> Self {
        Self::new(
            "RequestTimeout",
            StatusCode::BAD_REQUEST,
            "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.",
        )
    }

    /// S3's 503 when asked to slow down.
    pub fn slow_down() -> Self {
        Self::new(
            "SlowDown",
            StatusCode::SERVICE_UNAVAILABLE,
            "Please reduce your request rate.",
        )
    }

    /// The XML document, with fresh request and host ids.
    pub fn to_xml(&self, request_id: &str, host_id: &str) -> String {
        let head = [("Code", self.code), ("Message", self.message.as_str())];
        let extras = self
            .extras
            .iter()
            .map(|(name, value)| (*name, value.as_str()));
        let ids = [("RequestId", request_id), ("HostId", host_id)];
        super::xml::document("Error", head.into_iter().chain(extras).chain(ids))
    }
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        let ids = super::ResponseIds::new();
        let body = self.to_xml(&ids.request_id, &ids.host_id);
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        ids.apply(headers);
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(cause);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_sit_between_message_and_request_id_and_are_escaped() {
        let xml = S3Error::extra_input_field("a<b&c").to_xml("RID", "HID");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
             <Message>Invalid according to Policy: Extra input fields: a&lt;b&amp;c</Message>\
             <RequestId>RID</RequestId><HostId>HID</HostId></Error>"
        );
        let xml = S3Error::entity_too_large(11, 10).to_xml("R", "H");
        assert!(xml.contains("</Message><ProposedSize>11</ProposedSize><MaxSizeAllowed>10</MaxSizeAllowed><RequestId>"), "{xml}");
    }

    #[test]
    fn control_characters_a_client_sent_do_not_break_the_xml() {
        let xml = S3Error::signature_does_not_match("AK\u{0}", "\u{1}sig\u{1b}[31m\u{ffff}", "eyJ")
            .to_xml("R", "H");
        let forbidden = xml
            .chars()
            .filter(|c| {
                ((*c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
                    || matches!(c, '\u{fffe}' | '\u{ffff}')
            })
            .count();
        assert_eq!(forbidden, 0, "{xml:?}");
        assert!(
            xml.contains("<SignatureProvided>\u{fffd}sig\u{fffd}[31m\u{fffd}</SignatureProvided>"),
            "{xml:?}"
        );
    }

    #[test]
    fn string_to_sign_bytes_are_spaced_hex() {
        let err = S3Error::signature_does_not_match("AK", "sig", "eyJ");
        assert_eq!(err.extras[3], ("StringToSignBytes", "65 79 4a".to_owned()));
    }
}
