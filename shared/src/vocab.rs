//! The wire vocabulary of the imagemgmt REST door (docs/contract/imagemgmt-api.md "Enums").
//!
//! Every enum travels as its exact upper-case name; an unknown value is an error (the REST
//! door answers 400). `ALL` lists every value so tests and the OpenAPI document can iterate.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A value that is not one of an enum's wire names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    /// The enum's name, e.g. `"OsType"`.
    pub enum_name: &'static str,
    /// The value received.
    pub value: String,
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} value {:?}", self.enum_name, self.value)
    }
}

impl std::error::Error for UnknownValue {}

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $s)] $var),+
        }

        impl $name {
            /// Every value, in the spec's order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The exact wire name.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$var),)+
                    _ => Err(UnknownValue { enum_name: stringify!($name), value: s.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// Where an image or version comes from.
    SourceType {
        AkkaCustomVm = "AKKA_CUSTOM_VM",
        AkkaMarketPlace = "AKKA_MARKET_PLACE",
        AkkaSig = "AKKA_SIG",
        AzureCustomVm = "AZURE_CUSTOM_VM",
        AzureMarketPlace = "AZURE_MARKET_PLACE",
        AzureSig = "AZURE_SIG",
        CopiedFromVersion = "COPIED_FROM_VERSION",
        ImportedVms = "IMPORTED_VMS",
        Uploaded = "UPLOADED",
        VsphereCatalog = "VSPHERE_CATALOG",
    }
}

wire_enum! {
    /// Image (stream) status; derived from its versions (docs/contract/lifecycle.md).
    ImageStatus {
        Available = "AVAILABLE",
        Deleting = "DELETING",
        Disabled = "DISABLED",
        Failed = "FAILED",
        ImportComplete = "IMPORT_COMPLETE",
        InProgress = "IN_PROGRESS",
        PartiallyAvailable = "PARTIALLY_AVAILABLE",
        Pending = "PENDING",
    }
}

wire_enum! {
    /// Version status.
    VersionStatus {
        Available = "AVAILABLE",
        Deleting = "DELETING",
        Disabled = "DISABLED",
        Failed = "FAILED",
        FailedUnrecoverable = "FAILED_UNRECOVERABLE",
        ImportComplete = "IMPORT_COMPLETE",
        ImportInProgress = "IMPORT_IN_PROGRESS",
        PartiallyAvailable = "PARTIALLY_AVAILABLE",
        Pending = "PENDING",
        PublishInProgress = "PUBLISH_IN_PROGRESS",
        ReplicationInProgress = "REPLICATION_IN_PROGRESS",
        ValidationFailed = "VALIDATION_FAILED",
        ValidationInProgress = "VALIDATION_IN_PROGRESS",
    }
}

wire_enum! {
    /// Version publication state.
    VersionState {
        NotReady = "NOT_READY",
        PartiallyPublished = "PARTIALLY_PUBLISHED",
        Published = "PUBLISHED",
        Unpublished = "UNPUBLISHED",
    }
}

wire_enum! {
    /// Asset (copy) status.
    AssetStatus {
        AgentInstallationFailed = "AGENT_INSTALLATION_FAILED",
        AllowRdpFailed = "ALLOW_RDP_FAILED",
        Available = "AVAILABLE",
        CaptureAndImageUploadFailed = "CAPTURE_AND_IMAGE_UPLOAD_FAILED",
        CapturingAndUploadingImageToSig = "CAPTURING_AND_UPLOADING_IMAGE_TO_SIG",
        CloneFailed = "CLONE_FAILED",
        CopyingImage = "COPYING_IMAGE",
        Deleting = "DELETING",
        DeletionFailed = "DELETION_FAILED",
        DeletionRetryPending = "DELETION_RETRY_PENDING",
        DeployingVm = "DEPLOYING_VM",
        Disabled = "DISABLED",
        EnablingRdsAndAllowRdpFailed = "ENABLING_RDS_AND_ALLOW_RDP_FAILED",
        Generalizing = "GENERALIZING",
        GeneralizingFailed = "GENERALIZING_FAILED",
        ImportComplete = "IMPORT_COMPLETE",
        ImportFailed = "IMPORT_FAILED",
        ImportFailedTimeout = "IMPORT_FAILED_TIMEOUT",
        ImportPending = "IMPORT_PENDING",
        ImportRetryPending = "IMPORT_RETRY_PENDING",
        InstallingAgents = "INSTALLING_AGENTS",
        PublishBackupFailed = "PUBLISH_BACKUP_FAILED",
        PublishBackupInProgress = "PUBLISH_BACKUP_IN_PROGRESS",
        PublishCleanupFailed = "PUBLISH_CLEANUP_FAILED",
        PublishCleanupInProgress = "PUBLISH_CLEANUP_IN_PROGRESS",
        PublishComplete = "PUBLISH_COMPLETE",
        PublishFailed = "PUBLISH_FAILED",
        PublishInProgress = "PUBLISH_IN_PROGRESS",
        PublishRetryPending = "PUBLISH_RETRY_PENDING",
        Replicating = "REPLICATING",
        ReplicationComplete = "REPLICATION_COMPLETE",
        ReplicationFailed = "REPLICATION_FAILED",
        ReplicationFailedTimeout = "REPLICATION_FAILED_TIMEOUT",
        RestartingVm = "RESTARTING_VM",
        ScanningApps = "SCANNING_APPS",
        ShuttingDownVm = "SHUTTING_DOWN_VM",
        Syspreping = "SYSPREPING",
        SysprepFailed = "SYSPREP_FAILED",
        ValidationFailed = "VALIDATION_FAILED",
        ValidationInProgress = "VALIDATION_IN_PROGRESS",
    }
}

wire_enum! {
    /// The provider resource kind behind an asset.
    AssetType {
        AkkaImageInRg = "AKKA_IMAGE_IN_RG",
        AkkaVmInRg = "AKKA_VM_IN_RG",
        AzureImageInRg = "AZURE_IMAGE_IN_RG",
        AzureImageInSig = "AZURE_IMAGE_IN_SIG",
        AzureImageReplicaInSig = "AZURE_IMAGE_REPLICA_IN_SIG",
        AzureVmInRg = "AZURE_VM_IN_RG",
        VsphereMasterVm = "VSPHERE_MASTER_VM",
    }
}

wire_enum! {
    /// Operating-system family of an image.
    OsType {
        Client = "CLIENT",
        Linux = "LINUX",
        Server = "SERVER",
        Windows = "WINDOWS",
        Wvd = "WVD",
    }
}

wire_enum! {
    /// GPU family of an image.
    GpuType {
        Amd = "AMD",
        None = "NONE",
        Nvidia = "NVIDIA",
    }
}

wire_enum! {
    /// The kind of provider instance.
    ProviderLabel {
        Akka = "AKKA",
        Azure = "AZURE",
        Vsphere = "VSPHERE",
        Zerocloud = "ZEROCLOUD",
    }
}

wire_enum! {
    /// Which number of `major.minor.patch` a new version bumps.
    VersionType {
        Major = "MAJOR",
        Minor = "MINOR",
        Patch = "PATCH",
    }
}

wire_enum! {
    /// The last action started on a version.
    LastTriggeredAction {
        Clone = "CLONE",
        Delete = "DELETE",
        Import = "IMPORT",
        Publish = "PUBLISH",
        Unpublish = "UNPUBLISH",
    }
}

/// The RPC door's name for an image status (`INIT`, `CREATING`, `AVAILABLE`,
/// `CREATE_FAILED`): one record, two vocabularies (docs/contract/lifecycle.md).
pub fn rpc_image_status(s: ImageStatus) -> &'static str {
    match s {
        ImageStatus::Pending => "INIT",
        ImageStatus::InProgress => "CREATING",
        ImageStatus::Available | ImageStatus::PartiallyAvailable | ImageStatus::ImportComplete => {
            "AVAILABLE"
        }
        ImageStatus::Failed => "CREATE_FAILED",
        ImageStatus::Deleting => "DELETING",
        ImageStatus::Disabled => "DISABLED",
    }
}

/// The RPC door's name for a version status.
pub fn rpc_version_status(s: VersionStatus) -> &'static str {
    use VersionStatus::*;
    match s {
        Pending => "INIT",
        ImportInProgress | PublishInProgress | ReplicationInProgress | ValidationInProgress => {
            "CREATING"
        }
        Available | PartiallyAvailable | ImportComplete => "AVAILABLE",
        Failed | FailedUnrecoverable | ValidationFailed => "CREATE_FAILED",
        Deleting => "DELETING",
        Disabled => "DISABLED",
    }
}

/// An org id (the tenant).
pub type OrgId = String;

/// Status of a region distribution (RPC vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RegionStatus {
    Init,
    Distributing,
    Available,
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(all: &[T])
    where
        T: Copy + fmt::Debug + PartialEq + Serialize + for<'de> Deserialize<'de> + FromStr,
        T: fmt::Display,
    {
        for v in all {
            let json = serde_json::to_string(v).expect("serialize");
            let name = v.to_string();
            assert_eq!(json, format!("\"{name}\""));
            // Exact upper-case names: the spec's wire form.
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()),
                "{name}"
            );
            let back: T = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(&back, v);
            assert!(name.parse::<T>().ok() == Some(*v));
        }
    }

    #[test]
    fn every_value_round_trips_through_json_and_from_str() {
        round_trip(SourceType::ALL);
        round_trip(ImageStatus::ALL);
        round_trip(VersionStatus::ALL);
        round_trip(VersionState::ALL);
        round_trip(AssetStatus::ALL);
        round_trip(AssetType::ALL);
        round_trip(OsType::ALL);
        round_trip(GpuType::ALL);
        round_trip(ProviderLabel::ALL);
        round_trip(VersionType::ALL);
        round_trip(LastTriggeredAction::ALL);
    }

    #[test]
    fn value_counts_match_the_spec() {
        assert_eq!(SourceType::ALL.len(), 10);
        assert_eq!(ImageStatus::ALL.len(), 8);
        assert_eq!(VersionStatus::ALL.len(), 13);
        assert_eq!(VersionState::ALL.len(), 4);
        assert_eq!(AssetStatus::ALL.len(), 40);
        assert_eq!(AssetType::ALL.len(), 7);
        assert_eq!(OsType::ALL.len(), 5);
        assert_eq!(GpuType::ALL.len(), 3);
        assert_eq!(ProviderLabel::ALL.len(), 4);
        assert_eq!(VersionType::ALL.len(), 3);
        assert_eq!(LastTriggeredAction::ALL.len(), 5);
    }

    #[test]
    fn rpc_vocabulary_maps_the_capture_lifecycle() {
        assert_eq!(rpc_version_status(VersionStatus::Pending), "INIT");
        assert_eq!(
            rpc_version_status(VersionStatus::ImportInProgress),
            "CREATING"
        );
        assert_eq!(rpc_version_status(VersionStatus::Available), "AVAILABLE");
        assert_eq!(rpc_version_status(VersionStatus::Failed), "CREATE_FAILED");
        assert_eq!(rpc_image_status(ImageStatus::Pending), "INIT");
        assert_eq!(rpc_image_status(ImageStatus::InProgress), "CREATING");
        assert_eq!(rpc_image_status(ImageStatus::Failed), "CREATE_FAILED");
    }

    #[test]
    fn unknown_or_lower_case_values_are_refused() {
        assert!(serde_json::from_str::<OsType>("\"windows\"").is_err());
        assert!(serde_json::from_str::<GpuType>("\"INTEL\"").is_err());
        let err = "windows".parse::<OsType>().unwrap_err();
        assert_eq!(err.enum_name, "OsType");
        assert_eq!(err.value, "windows");
    }
}
