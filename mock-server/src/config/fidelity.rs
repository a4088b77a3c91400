//! The fidelity switches: one per undocumented behaviour (FIDELITY.md).

use serde::{Deserialize, Serialize};

/// One switch per undocumented behaviour, so a team whose sandbox run settles a point the
/// other way can make the fake agree. Defaults are the choices recorded in FIDELITY.md.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fidelity {
    /// A `file_name` reused in a stream without a new `md5_hash` answers 409 (else accepted).
    pub reject_duplicate_file_names: bool,
    /// `POST /v1/imports/list` orders newest first (else oldest first).
    pub list_newest_first: bool,
    /// What `offset` counts.
    pub list_offset: OffsetUnit,
    /// `created_after` includes files created in that very second.
    pub created_after_inclusive: bool,
    /// `created_before` includes files created in that very second.
    pub created_before_inclusive: bool,
    /// Another organisation's file answers 403 `forbidden` (else 404 `resource_not_found`).
    pub foreign_file_forbidden: bool,
    /// A `file_id` that is not a string of digits answers 400 (else 404).
    pub malformed_id_bad_request: bool,
    /// Each route has its own rate-limit bucket per key (else one bucket per key).
    pub rate_limit_per_route: bool,
    /// An `md5_hash` that is not a UUID answers 400 (else it is taken as given).
    pub md5_hash_must_be_uuid: bool,
    /// A create or list body whose `Content-Type` is not `application/json`: 400 or 415.
    pub non_json_body_status: u16,
    /// A known path asked with a method it does not take: 405 or 404.
    pub wrong_method_status: u16,
    /// A create or list body with a field the route does not know answers 400 (else ignored).
    pub reject_unknown_fields: bool,
    /// With streams configured, a create for a stream that is not answers 400 at once (else
    /// the file is accepted and FAILS `stream_not_configured` once uploaded).
    pub reject_unknown_streams_at_create: bool,
    /// A form POST carrying an `Authorization` header answers S3's 400 `InvalidArgument`
    /// "Unsupported Authorization Type" (else the header is ignored, as moto and MinIO do).
    pub s3_refuse_authorization_header: bool,
    /// Keys are compared exactly (else ignoring ASCII case).
    pub keys_case_sensitive: bool,
    /// A list call with no body answers 400 (else it lists with no filters).
    pub empty_list_body_refused: bool,
    /// With streams configured, a list filter naming a stream that is not answers 400 (else
    /// it matches nothing).
    pub unknown_stream_filter_refused: bool,
    /// An empty `statuses` or `stream_names` list matches nothing (else it is no filter).
    pub empty_filter_matches_nothing: bool,
    /// `file_type` of an extension Unit21 does not take is `null` (else upper-cased as is).
    pub unknown_file_type_null: bool,
    /// `successful_count` and `failure_count` are `null` until processing ends (else `0`).
    pub counts_null_until_processed: bool,
}

impl Default for Fidelity {
    fn default() -> Self {
        Self {
            reject_duplicate_file_names: true,
            list_newest_first: true,
            list_offset: OffsetUnit::Page,
            created_after_inclusive: true,
            created_before_inclusive: false,
            foreign_file_forbidden: false,
            malformed_id_bad_request: false,
            rate_limit_per_route: true,
            md5_hash_must_be_uuid: true,
            non_json_body_status: 400,
            wrong_method_status: 405,
            reject_unknown_fields: false,
            reject_unknown_streams_at_create: false,
            s3_refuse_authorization_header: true,
            keys_case_sensitive: true,
            empty_list_body_refused: false,
            unknown_stream_filter_refused: false,
            empty_filter_matches_nothing: false,
            unknown_file_type_null: false,
            counts_null_until_processed: false,
        }
    }
}

/// What the list call's `offset` counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetUnit {
    /// 1-based pages of `limit` records, as Unit21's other list routes.
    #[default]
    Page,
    /// 0-based records to skip.
    Record,
}
