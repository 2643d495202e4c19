//! A model that does not fit the GPU shows the numbers in the instance: the supervisor (the real
//! binary, with the plan the operator rendered) pulls and loads the model from a loopback Ollama
//! sidecar whose `/api/ps` puts 60% of it in VRAM, and the operator turns the supervisor's typed
//! VRAM verdict into `status.models[]` and `ModelsOnGPU=False`.

use std::time::Duration;

use openclaw_api::instance::status::condition;
use openclaw_testkit::ollama::{self, Sidecar, Vram, two_layers};
use openclaw_tests::{TestCluster, instances, operator::OperatorHandle, pod::LocalPod, wait};

const AGENT: &str = "apiVersion: openclaw.rocks/v1alpha1
kind: OpenClawInstance
metadata:
  name: gpu-agent
spec:
  ollama:
    enabled: true
    gpu: 1
    models:
      - \"llama3.2\"
";

/// 2 GiB of weights plus a small params layer.
const BLOB: i64 = 2 * 1024 * 1024 * 1024;

#[tokio::test]
async fn a_model_partly_on_the_cpu_shows_its_numbers_in_the_status() -> anyhow::Result<()> {
    let mut sidecar = Sidecar {
        vram: Vram::Part(0.6),
        ..Sidecar::default()
    };
    sidecar
        .library
        .insert("llama3.2:latest".into(), two_layers(BLOB));
    let (ollama_url, _sidecar) = ollama::start(sidecar).await;
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("models").await?;
    let home = tempfile::tempdir()?;
    let mut pod = LocalPod::new(home.path())?;
    let _operator = OperatorHandle::start_with_supervisor(&cluster, &ns.name, &pod.address);
    instances::apply(&cluster, &ns.name, AGENT)?;
    pod.start_edited(&cluster, &ns.name, "gpu-agent", &[], &|plan| {
        plan["ollama"]["host"] = ollama_url.clone().into();
    })
    .await?;

    let instance = wait::until("ModelsOnGPU=False", Duration::from_secs(90), || async {
        let instance = instances::get(&cluster, &ns.name, "gpu-agent").await?;
        let found = instances::condition(&instance, condition::MODELS_ON_GPU)
            .is_some_and(|c| c.status == "False");
        Ok(found.then_some(instance))
    })
    .await?;
    let message = instances::condition(&instance, condition::MODELS_ON_GPU)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("llama3.2:latest") && message.contains("(60%)"),
        "{message}"
    );
    let models = instance.status.clone().unwrap_or_default().models;
    assert_eq!(models.len(), 1, "{models:?}");
    let model = &models[0];
    let size = BLOB + 12_403;
    assert_eq!(model.name, "llama3.2:latest");
    assert_eq!(model.size_bytes, Some(size));
    assert_eq!(model.vram_bytes, Some((size as f64 * 0.6) as i64));
    assert_eq!(model.percent_in_vram, 60);
    Ok(())
}
