//! SOAP on the wire: the envelope around a call's rendered `Header` and
//! `Body`, and the answer read back: the `Body`'s content as JSON (names
//! without their prefixes, `lists` always lists), or the `Fault` it holds,
//! which fails the call. No DTD is read, nesting and size are bounded.

use http::{HeaderMap, HeaderValue, StatusCode, header};
use jaq_json::Val;
use serde_json::Value;

use super::error::CallError;
use crate::plan::{SoapCall, SoapVersion};
use crate::xml_body::{self, Mapping};

/// A `Fault` an upstream answered.
#[derive(Debug, Clone)]
pub(crate) struct SoapFault {
    /// `faultcode` (1.1) or `Code/Value` (1.2), as written (`soap:Client`).
    pub code: String,
    /// `faultstring` (1.1) or the first `Reason/Text` (1.2).
    pub message: String,
}

impl SoapFault {
    /// The sender (client) was at fault, not the receiver (server).
    pub(crate) fn is_sender(&self) -> bool {
        let local = self.code.rsplit(':').next().unwrap_or_default();
        let class = local.split('.').next().unwrap_or_default();
        matches!(class, "Client" | "Sender")
    }

    /// The HTTP status the SOAP 1.2 HTTP binding gives the fault: 400 for
    /// a sender's fault, 500 for any other. `forward_status` matches it.
    pub(crate) fn http_status(&self) -> StatusCode {
        if self.is_sender() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The envelope around the rendered header and body.
pub(super) fn envelope(soap: &SoapCall, header: Option<&str>, body: &str) -> Vec<u8> {
    let mut out = String::with_capacity(soap.open.len() + body.len() + 96);
    out.push_str(&soap.open);
    if let Some(h) = header {
        out.push_str("<soap:Header>");
        out.push_str(h);
        out.push_str("</soap:Header>");
    }
    out.push_str("<soap:Body>");
    out.push_str(body);
    out.push_str("</soap:Body></soap:Envelope>");
    out.into_bytes()
}

/// The request headers of the operation.
pub(super) fn request_headers(soap: &SoapCall, headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_TYPE, soap.content_type.clone());
    if let Some(action) = &soap.soap_action {
        headers.insert("soapaction", action.clone());
    }
    let accept = match soap.version {
        SoapVersion::V1_1 => "text/xml",
        SoapVersion::V1_2 => "application/soap+xml",
    };
    headers
        .entry(header::ACCEPT)
        .or_insert(HeaderValue::from_static(accept));
}

/// The call's result from an answer's status and body. A fault comes with
/// 500 (or 400 in SOAP 1.2), so the body is read whatever the status.
pub(super) fn answer(
    call: &str,
    soap: &SoapCall,
    status: StatusCode,
    body: &[u8],
) -> Result<Val, CallError> {
    let mapping = Mapping {
        local_names: true,
        lists: &soap.lists,
        refuse_doctype: true,
    };
    let read = xml_body::to_json_mapped(body, mapping);
    let body_content = match read {
        Ok((root, Value::Object(mut envelope))) if root == "Envelope" => {
            envelope.remove("Body").unwrap_or(Value::Null)
        }
        Ok(_) | Err(_) if !status.is_success() => {
            tracing::info!(
                call,
                status = status.as_u16(),
                "SOAP upstream answered an error"
            );
            return Err(CallError::Status(status));
        }
        Ok(_) => {
            tracing::warn!(call, "SOAP answer without an Envelope");
            return Err(CallError::Malformed);
        }
        Err(e) => {
            tracing::warn!(call, error = %e, "SOAP answer is not acceptable XML");
            return Err(CallError::Malformed);
        }
    };
    if let Some(fault) = fault(&body_content) {
        tracing::info!(call, code = %fault.code, message = %fault.message, "SOAP upstream answered a fault");
        return Err(CallError::SoapFault(fault));
    }
    if !status.is_success() {
        tracing::info!(
            call,
            status = status.as_u16(),
            "SOAP upstream answered an error"
        );
        return Err(CallError::Status(status));
    }
    Ok(crate::value::from_json(&body_content))
}

/// The fault in a `Body`'s content, 1.1 or 1.2 alike.
fn fault(body: &Value) -> Option<SoapFault> {
    let f = body.get("Fault")?;
    let text = |v: Option<&Value>| -> String {
        match v {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => a.first().map(|x| plain(Some(x))).unwrap_or_default(),
            other => plain(other),
        }
    };
    let (code, message) = if f.get("faultcode").is_some() || f.get("faultstring").is_some() {
        (text(f.get("faultcode")), text(f.get("faultstring")))
    } else {
        let code = f.get("Code").and_then(|c| c.get("Value"));
        let reason = f.get("Reason").and_then(|r| r.get("Text"));
        (text(code), text(reason))
    };
    Some(SoapFault { code, message })
}

/// A scalar's text: the mapping reads `404` as a number, a fault says text.
fn plain(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(version: SoapVersion, lists: &[&str]) -> SoapCall {
        let mut b = crate::lang::template::TemplateBuilder::default();
        SoapCall {
            version,
            action: String::new(),
            open: String::new(),
            header: None,
            body: b.add("x", crate::lang::template::Escape::Xml).unwrap(),
            content_type: HeaderValue::from_static("text/xml"),
            soap_action: None,
            lists: lists.iter().map(|s| (*s).to_owned()).collect(),
            idempotent: false,
            expects: None,
        }
    }

    fn json(v: &Val) -> serde_json::Value {
        serde_json::from_slice(&crate::value::to_json(v)).unwrap()
    }

    #[test]
    fn the_body_content_becomes_json_without_prefixes() {
        let soap = call(SoapVersion::V1_1, &["tag"]);
        let doc = br#"<?xml version="1.0"?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Header/><S:Body><m:GetQuoteResponse xmlns:m="urn:x"><m:price>12.5</m:price><m:tags><m:tag>tools</m:tag></m:tags></m:GetQuoteResponse></S:Body></S:Envelope>"#;
        let v = answer("q", &soap, StatusCode::OK, doc).unwrap();
        assert_eq!(
            json(&v),
            serde_json::json!({"GetQuoteResponse": {"price": 12.5, "tags": {"tag": ["tools"]}}})
        );
    }

    #[test]
    fn faults_of_both_versions_fail_the_call_even_with_500() {
        let soap = call(SoapVersion::V1_1, &[]);
        let v11 = br#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault><faultcode>e:Client</faultcode><faultstring>unknown symbol X</faultstring></e:Fault></e:Body></e:Envelope>"#;
        let Err(CallError::SoapFault(f)) =
            answer("q", &soap, StatusCode::INTERNAL_SERVER_ERROR, v11)
        else {
            panic!("a fault")
        };
        assert_eq!(
            (f.code.as_str(), f.message.as_str()),
            ("e:Client", "unknown symbol X")
        );
        assert_eq!(f.http_status(), StatusCode::BAD_REQUEST);
        let v12 = br#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason><env:Text xml:lang="en">down</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>"#;
        let Err(CallError::SoapFault(f)) = answer("q", &soap, StatusCode::OK, v12) else {
            panic!("a fault")
        };
        assert_eq!(
            (f.code.as_str(), f.message.as_str()),
            ("env:Receiver", "down")
        );
        assert_eq!(f.http_status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn dtds_and_non_soap_answers_are_refused() {
        let soap = call(SoapVersion::V1_1, &[]);
        let dtd = br#"<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x "boom">]><Envelope><Body><a>&x;</a></Body></Envelope>"#;
        assert!(matches!(
            answer("q", &soap, StatusCode::OK, dtd),
            Err(CallError::Malformed)
        ));
        assert!(matches!(
            answer("q", &soap, StatusCode::OK, b"<html/>"),
            Err(CallError::Malformed)
        ));
        assert!(matches!(
            answer("q", &soap, StatusCode::BAD_GATEWAY, b"oops"),
            Err(CallError::Status(StatusCode::BAD_GATEWAY))
        ));
        let deep = format!(
            "<Envelope><Body>{}{}</Body></Envelope>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        assert!(matches!(
            answer("q", &soap, StatusCode::OK, deep.as_bytes()),
            Err(CallError::Malformed)
        ));
    }
}
