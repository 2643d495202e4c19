//! Creating instances and the objects they reference, and reading what the operator made.

use anyhow::Result;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};
use openclaw_api::{OpenClawInstance, instance::Phase};

use crate::TestCluster;

/// Creates a Secret with string data.
pub async fn create_secret(
    cluster: &TestCluster,
    ns: &str,
    name: &str,
    data: &[(&str, &str)],
) -> Result<()> {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        string_data: Some(
            data.iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        ),
        ..Default::default()
    };
    Api::<Secret>::namespaced(cluster.client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await?;
    Ok(())
}

/// Creates a ConfigMap.
pub async fn create_config_map(
    cluster: &TestCluster,
    ns: &str,
    name: &str,
    data: &[(&str, &str)],
) -> Result<()> {
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        ),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(cluster.client.clone(), ns)
        .create(&PostParams::default(), &cm)
        .await?;
    Ok(())
}

/// Applies a manifest (YAML) into `ns`, overriding its namespace.
pub fn apply(cluster: &TestCluster, ns: &str, yaml: &str) -> Result<()> {
    let mut value: serde_json::Value = serde_yaml::from_str(yaml)?;
    value["metadata"]["namespace"] = ns.into();
    cluster.kubectl(&["apply", "-f", "-"], Some(&value.to_string()))?;
    Ok(())
}

pub async fn get(cluster: &TestCluster, ns: &str, name: &str) -> Result<OpenClawInstance> {
    Ok(
        Api::<OpenClawInstance>::namespaced(cluster.client.clone(), ns)
            .get(name)
            .await?,
    )
}

/// `Some(instance)` once it shows `phase` and a Ready condition matching `ready`.
pub async fn in_phase(
    cluster: &TestCluster,
    ns: &str,
    name: &str,
    phase: Phase,
    ready: &str,
) -> Result<Option<OpenClawInstance>> {
    let instance = get(cluster, ns, name).await?;
    let status = instance.status.clone().unwrap_or_default();
    let ready_now = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.as_str());
    Ok((status.phase == Some(phase) && ready_now == Some(ready)).then_some(instance))
}

/// A condition of an instance's status.
pub fn condition<'a>(
    instance: &'a OpenClawInstance,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    instance
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}
