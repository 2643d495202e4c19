//! Whether the Ollama models of an instance can fit in the GPU memory of any node, decided
//! before the pod is scheduled, from the GPU facts the node agents publish.
//!
//! A model's size is estimated from its tag, as Ollama's library names them: the parameter
//! count (`8b`, `0.6b`, `235b`) times the bits per weight of its quantization (`q8_0`, `fp16`;
//! none named means the library's default, Q4_K_M), plus a tenth for the context cache and the
//! runtime. A tag without a parameter count (`llama3.2`, `latest`) is not judged: only what can
//! be said with numbers is said. The supervisor measures the real placement once the models
//! are loaded (`status.models`); this check only catches, early, what can never fit.

use super::cluster_facts::NodeGpus;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
/// The context cache and the runtime on top of the weights.
const OVERHEAD: f64 = 1.1;
/// Ollama library's default quantization.
const DEFAULT_QUANT: (&str, f64) = ("Q4_K_M", 4.85);
/// Bits per weight of the quantizations Ollama's library tags name (llama.cpp's figures).
const QUANTS: &[(&str, f64)] = &[
    ("q2_k", 3.35),
    ("q3_k_s", 3.5),
    ("q3_k_m", 3.9),
    ("q3_k_l", 4.27),
    ("q4_0", 4.55),
    ("q4_1", 5.0),
    ("q4_k_s", 4.58),
    ("q4_k_m", 4.85),
    ("q5_0", 5.54),
    ("q5_1", 6.0),
    ("q5_k_s", 5.54),
    ("q5_k_m", 5.69),
    ("q6_k", 6.59),
    ("q8_0", 8.5),
    ("fp16", 16.0),
    ("f16", 16.0),
    ("bf16", 16.0),
    ("fp32", 32.0),
    ("f32", 32.0),
];

/// A model's estimated memory need.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub model: String,
    /// Billions of parameters.
    pub params_b: f64,
    pub quant: String,
    pub bytes: f64,
}

/// The estimate of `model` (`name:tag`); `None` when its tag names no parameter count.
pub fn estimate(model: &str) -> Option<Estimate> {
    let tag = model.rsplit_once(':').map(|(_, tag)| tag)?;
    let parts: Vec<String> = tag.split('-').map(str::to_ascii_lowercase).collect();
    let params_b = parts.iter().find_map(|part| {
        let (number, unit) = part.split_at(part.len().checked_sub(1)?);
        let value = number.parse::<f64>().ok().filter(|v| *v > 0.0)?;
        match unit {
            "b" => Some(value),
            "m" => Some(value / 1000.0),
            _ => None,
        }
    })?;
    let (quant, bits) = parts
        .iter()
        .find_map(|part| {
            QUANTS
                .iter()
                .find(|(name, _)| part == name)
                .map(|(name, bits)| (name.to_ascii_uppercase(), *bits))
        })
        .unwrap_or((DEFAULT_QUANT.0.to_owned(), DEFAULT_QUANT.1));
    Some(Estimate {
        model: model.to_owned(),
        params_b,
        quant,
        bytes: params_b * 1e9 * bits / 8.0 * OVERHEAD,
    })
}

/// The most GPU memory one node can give the pod: per-GPU memory (the smallest of the node's
/// GPUs) times the GPUs the pod may use there.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub node: String,
    pub gpu_model: String,
    pub gpus: u32,
    pub bytes: f64,
}

fn offer(node: &NodeGpus, requested: u32) -> Option<Offer> {
    let per_gpu = node.facts.gpus.iter().map(|g| g.memory_mib).min()??;
    let count = u32::try_from(node.facts.gpus.len()).unwrap_or(u32::MAX);
    let allocatable = u32::try_from(node.allocatable.max(0)).unwrap_or(0);
    let usable = requested
        .min(count)
        .min(if allocatable > 0 { allocatable } else { count });
    (usable > 0).then(|| Offer {
        node: node.node.clone(),
        gpu_model: node.facts.gpus[0].model.clone().unwrap_or_default(),
        gpus: usable,
        bytes: per_gpu as f64 * MIB * f64::from(usable),
    })
}

/// The verdict: `Some((fits, message))` when there is something to judge (GPUs requested,
/// models with a size in their tag, nodes that published their GPU memory).
pub fn check(models: &[String], requested_gpus: u32, nodes: &[NodeGpus]) -> Option<(bool, String)> {
    if requested_gpus == 0 {
        return None;
    }
    let estimates: Vec<Estimate> = models.iter().filter_map(|m| estimate(m)).collect();
    let best = nodes
        .iter()
        .filter_map(|node| offer(node, requested_gpus))
        .max_by(|a, b| a.bytes.total_cmp(&b.bytes))?;
    let largest = estimates
        .iter()
        .max_by(|a, b| a.bytes.total_cmp(&b.bytes))?;
    let gib = |bytes: f64| bytes / GIB;
    let where_ = format!(
        "node {} ({} × {}, {:.1} GiB)",
        best.node,
        best.gpus,
        best.gpu_model,
        gib(best.bytes)
    );
    if largest.bytes <= best.bytes {
        return Some((
            true,
            format!(
                "{} (about {:.1} GiB) fits on {where_}",
                largest.model,
                gib(largest.bytes)
            ),
        ));
    }
    let too_large: Vec<String> = estimates
        .iter()
        .filter(|e| e.bytes > best.bytes)
        .map(|e| {
            format!(
                "{} needs about {:.1} GiB ({} B parameters at {})",
                e.model,
                gib(e.bytes),
                e.params_b,
                e.quant
            )
        })
        .collect();
    Some((
        false,
        format!(
            "{}; the most any node offers for {requested_gpus} GPU(s) is {where_}: Ollama would run it partly on the CPU. \
             Choose a smaller or more quantized tag, or ask for more GPUs (spec.ollama.gpu)",
            too_large.join("; ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use openclaw_api::supervisor::{NodeGpu, NodeGpuFacts};

    use super::*;

    fn h100_node(name: &str, gpus: usize) -> NodeGpus {
        NodeGpus {
            node: name.into(),
            allocatable: i64::try_from(gpus).unwrap_or(0),
            facts: NodeGpuFacts {
                driver_version: Some("580.159.04".into()),
                gpus: (0..gpus)
                    .map(|i| NodeGpu {
                        bus_id: format!("0000:00:0{i}.0"),
                        model: Some("NVIDIA H100 80GB HBM3".into()),
                        uuid: None,
                        memory_mib: Some(81_559),
                    })
                    .collect(),
            },
        }
    }

    #[test]
    fn estimates_follow_the_tag() {
        let qwen = estimate("qwen3:8b").unwrap_or_else(|| panic!("no estimate"));
        assert_eq!(qwen.quant, "Q4_K_M");
        assert!(
            (qwen.bytes / GIB - 4.99).abs() < 0.05,
            "{}",
            qwen.bytes / GIB
        );
        let q8 = estimate("llama3.1:70b-instruct-q8_0").unwrap_or_else(|| panic!("no estimate"));
        assert_eq!((q8.params_b, q8.quant.as_str()), (70.0, "Q8_0"));
        let small = estimate("qwen3:600m").unwrap_or_else(|| panic!("no estimate"));
        assert!((small.params_b - 0.6).abs() < 1e-9);
        assert!(estimate("qwen3:235b-a22b").is_some_and(|e| e.params_b == 235.0));
        for unknown in ["llama3.2", "llama3.2:latest", "x:instruct"] {
            assert_eq!(estimate(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn a_model_larger_than_any_node_is_named_with_the_numbers() {
        let nodes = [h100_node("gpu-a", 1), h100_node("gpu-b", 2)];
        let models = ["qwen3:8b".to_owned(), "llama3.1:405b".to_owned()];
        let (fits, message) = check(&models, 2, &nodes).unwrap_or_default();
        assert!(!fits);
        assert!(
            message.contains("llama3.1:405b needs about 251.5 GiB"),
            "{message}"
        );
        assert!(
            message.contains("node gpu-b (2 × NVIDIA H100 80GB HBM3, 159.3 GiB)"),
            "{message}"
        );
        assert!(!message.contains("qwen3:8b"), "{message}");

        let (fits, message) = check(&["qwen3:8b".to_owned()], 1, &nodes).unwrap_or_default();
        assert!(fits, "{message}");
        // Two GPUs asked, but a one-GPU node only gives one.
        let (fits, _) =
            check(&["llama3.1:70b-instruct-fp16".to_owned()], 2, &nodes[..1]).unwrap_or_default();
        assert!(!fits);
    }

    #[test]
    fn nothing_is_said_without_numbers() {
        let nodes = [h100_node("gpu-a", 1)];
        assert_eq!(check(&["qwen3:8b".to_owned()], 0, &nodes), None);
        assert_eq!(check(&["llama3.2".to_owned()], 1, &nodes), None);
        assert_eq!(check(&["qwen3:8b".to_owned()], 1, &[]), None);
        let mut unknown = h100_node("gpu-x", 1);
        unknown.facts.gpus[0].memory_mib = None;
        assert_eq!(check(&["qwen3:8b".to_owned()], 1, &[unknown]), None);
    }
}
