//! The GPU check, decided without I/O: after each model was loaded once, `/api/ps` says how much
//! of it sits in VRAM. All of it is healthy; anything less is a silent CPU fallback, reported
//! with the numbers.

use openclaw_api::{instance::status::ModelPlacement as Placement, supervisor::VramCheck};
use serde::Deserialize;

use super::progress::normalize;

/// One loaded model as `GET /api/ps` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PsModel {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub model: String,
    /// Bytes the loaded model takes.
    #[serde(default)]
    pub size: i64,
    /// Of which in GPU memory.
    #[serde(default)]
    pub size_vram: i64,
}

/// The verdict of the check, as it goes onto the board (`gpu.ollama`).
pub type GpuCheck = VramCheck;

/// `1.2 GiB`, `512.0 MiB`, `0 B`.
pub fn human_bytes(bytes: i64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let b = bytes.max(0) as f64;
    if bytes <= 0 {
        "0 B".into()
    } else if b >= 1024.0 * MIB {
        format!("{:.1} GiB", b / (1024.0 * MIB))
    } else {
        format!("{:.1} MiB", b / MIB)
    }
}

/// Judges the placement of the `wanted` models from the `/api/ps` list.
pub fn assess(wanted: &[String], ps: &[PsModel], requested_gpus: u32) -> GpuCheck {
    let mut problems = Vec::new();
    let models = wanted
        .iter()
        .map(|want| {
            let model = normalize(want);
            let loaded = ps
                .iter()
                .find(|p| normalize(&p.name) == model || normalize(&p.model) == model);
            let Some(loaded) = loaded else {
                problems.push(format!(
                    "{model}: not loaded after a load request, so not on the GPU"
                ));
                return Placement {
                    name: model,
                    size_bytes: None,
                    vram_bytes: None,
                    percent_in_vram: 0,
                };
            };
            // Rounded, but never 100 unless all of it is in VRAM.
            let percent = match loaded.size {
                size if size <= 0 => 0,
                size if loaded.size_vram >= size => 100,
                size => ((loaded.size_vram.max(0) as f64 / size as f64) * 100.0)
                    .round()
                    .min(99.0) as i32,
            };
            if loaded.size_vram < loaded.size || loaded.size <= 0 {
                let rest = if loaded.size_vram <= 0 {
                    "Ollama runs it on the CPU"
                } else {
                    "Ollama fell back to CPU for the rest"
                };
                problems.push(format!(
                    "{model}: {} of {} in VRAM ({percent}%); {rest}",
                    human_bytes(loaded.size_vram),
                    human_bytes(loaded.size)
                ));
            }
            Placement {
                name: model,
                size_bytes: Some(loaded.size),
                vram_bytes: Some(loaded.size_vram),
                percent_in_vram: percent,
            }
        })
        .collect();
    GpuCheck {
        healthy: problems.is_empty(),
        requested_gpus,
        models,
        message: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: i64 = 1024 * 1024 * 1024;

    fn ps(name: &str, size: i64, size_vram: i64) -> PsModel {
        PsModel {
            name: name.into(),
            model: name.into(),
            size,
            size_vram,
        }
    }

    #[test]
    fn all_in_vram_is_healthy() {
        let check = assess(
            &["llama3.2".into()],
            &[ps("llama3.2:latest", 2 * GIB, 2 * GIB)],
            1,
        );
        assert!(check.healthy);
        assert_eq!(check.message, None);
        assert_eq!(check.models[0].percent_in_vram, 100);
    }

    #[test]
    fn partial_and_cpu_only_placements_say_the_numbers() {
        let wanted = [
            "llama3.2".to_owned(),
            "qwen3:8b".to_owned(),
            "phi4".to_owned(),
        ];
        let check = assess(
            &wanted,
            &[
                ps("llama3.2:latest", 2 * GIB, 2 * GIB * 6 / 10),
                ps("qwen3:8b", 5 * GIB, 0),
            ],
            1,
        );
        assert!(!check.healthy);
        assert_eq!(
            check.message.as_deref(),
            Some(
                "llama3.2:latest: 1.2 GiB of 2.0 GiB in VRAM (60%); Ollama fell back to CPU for the rest; \
                 qwen3:8b: 0 B of 5.0 GiB in VRAM (0%); Ollama runs it on the CPU; \
                 phi4:latest: not loaded after a load request, so not on the GPU"
            )
        );
        assert_eq!(check.models[2].size_bytes, None);
        assert_eq!(human_bytes(512 * 1024 * 1024), "512.0 MiB");
    }
}
