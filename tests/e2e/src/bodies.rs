//! Request bodies the scenarios send: the demo inventory's gallery image and VM.

use serde_json::{Value, json};

/// Create an image from the gallery image `g-1` (`AZURE_SIG`).
pub fn sig_body(name: &str) -> Value {
    json!({
        "streamName": name, "osType": "WINDOWS", "gpuType": "NONE",
        "sourceStreamType": "AZURE_SIG", "providerInstanceId": "pi-1",
        "assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG", "data": {
            "sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}
    })
}

/// Create an image from the customer VM `vm-1` (`AZURE_CUSTOM_VM`).
pub fn vm_body(name: &str) -> Value {
    json!({
        "streamName": name, "osType": "WINDOWS", "gpuType": "NONE",
        "sourceStreamType": "AZURE_CUSTOM_VM", "providerInstanceId": "pi-1",
        "assetDetails": {"assetType": "AZURE_VM_IN_RG", "data": {"vmId": "vm-1"}}
    })
}

/// Add a MAJOR version copied from `g-1`.
pub fn add_body() -> Value {
    json!({
        "osType": "WINDOWS", "gpuType": "NONE", "sourceType": "AZURE_SIG",
        "versionType": "MAJOR", "providerInstanceId": "pi-1",
        "assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG", "data": {
            "sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}
    })
}
