//! The pipeline's dependency graph and its scheduling decisions, as pure data: which steps may
//! start, and which can no longer run because a step they depend on failed. No I/O, no clock.

use std::collections::BTreeMap;

/// Why a set of steps is not a graph the pipeline can run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DagError {
    /// Two steps share a name.
    #[error("step {0:?} is declared twice")]
    Duplicate(&'static str),
    /// A step depends on a step that is not declared.
    #[error("step {step:?} depends on {dep:?}, which is not a step")]
    UnknownDependency {
        step: &'static str,
        dep: &'static str,
    },
    /// The dependencies loop.
    #[error("steps depend on each other in a cycle: {0:?}")]
    Cycle(Vec<&'static str>),
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Waiting for its dependencies.
    Waiting,
    /// Started.
    Running,
    /// Finished without error (ran or skipped).
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Will not run: the named step, which it depends on (directly or not), failed.
    Blocked(&'static str),
}

/// Steps in a dependency order (each after everything it depends on, declaration order kept
/// where free), with the scheduling state of each.
#[derive(Debug, Clone)]
pub struct Schedule {
    names: Vec<&'static str>,
    deps: Vec<Vec<usize>>,
    states: Vec<NodeState>,
}

impl Schedule {
    /// Builds the schedule of `steps`, given as `(name, dependencies)` in declaration order.
    pub fn new(steps: &[(&'static str, Vec<&'static str>)]) -> Result<Schedule, DagError> {
        let mut index = BTreeMap::new();
        for (i, (name, _)) in steps.iter().enumerate() {
            if index.insert(*name, i).is_some() {
                return Err(DagError::Duplicate(name));
            }
        }
        let mut deps = Vec::with_capacity(steps.len());
        for (name, ds) in steps {
            let mut resolved = Vec::with_capacity(ds.len());
            for dep in ds {
                let i = *index
                    .get(dep)
                    .ok_or(DagError::UnknownDependency { step: name, dep })?;
                resolved.push(i);
            }
            deps.push(resolved);
        }
        // Kahn's algorithm, always taking the first ready step in declaration order.
        let mut order = Vec::with_capacity(steps.len());
        let mut placed = vec![false; steps.len()];
        while order.len() < steps.len() {
            let next = (0..steps.len()).find(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]));
            match next {
                Some(i) => {
                    placed[i] = true;
                    order.push(i);
                }
                None => {
                    let stuck = (0..steps.len()).filter(|&i| !placed[i]).map(|i| steps[i].0);
                    return Err(DagError::Cycle(stuck.collect()));
                }
            }
        }
        let mut position = vec![0; steps.len()];
        for (pos, &i) in order.iter().enumerate() {
            position[i] = pos;
        }
        Ok(Schedule {
            names: order.iter().map(|&i| steps[i].0).collect(),
            deps: order
                .iter()
                .map(|&i| deps[i].iter().map(|&d| position[d]).collect())
                .collect(),
            states: vec![NodeState::Waiting; steps.len()],
        })
    }

    /// Step names in dependency order.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// State of the step at `i` (an index into [`Schedule::names`]).
    pub fn state(&self, i: usize) -> NodeState {
        self.states[i]
    }

    /// Marks every step whose dependencies all succeeded as running and returns them.
    pub fn start_ready(&mut self) -> Vec<usize> {
        let ready: Vec<usize> = (0..self.names.len())
            .filter(|&i| {
                self.states[i] == NodeState::Waiting
                    && self.deps[i]
                        .iter()
                        .all(|&d| self.states[d] == NodeState::Succeeded)
            })
            .collect();
        for &i in &ready {
            self.states[i] = NodeState::Running;
        }
        ready
    }

    /// Records the end of step `i`. After a failure, returns the steps that can no longer run
    /// (every waiting step that depends on it, directly or not), now [`NodeState::Blocked`].
    pub fn finish(&mut self, i: usize, ok: bool) -> Vec<usize> {
        self.states[i] = if ok {
            NodeState::Succeeded
        } else {
            NodeState::Failed
        };
        if ok {
            return Vec::new();
        }
        let root = self.names[i];
        let mut blocked = Vec::new();
        // Dependencies come first in `names`, so one forward pass sees every transitive dependent.
        for j in i + 1..self.names.len() {
            let depends = self.deps[j].iter().any(|&d| d == i || blocked.contains(&d));
            if depends && self.states[j] == NodeState::Waiting {
                self.states[j] = NodeState::Blocked(root);
                blocked.push(j);
            }
        }
        blocked
    }

    /// No step is waiting or running.
    pub fn is_done(&self) -> bool {
        self.states
            .iter()
            .all(|s| !matches!(s, NodeState::Waiting | NodeState::Running))
    }
}

/// The message a blocked step shows.
pub fn blocked_message(failed: &str) -> String {
    format!("not run: depends on {failed} which failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline() -> Result<Schedule, DagError> {
        Schedule::new(&[
            ("skills", vec!["restore"]),
            ("restore", vec![]),
            ("config", vec!["restore"]),
            ("python", vec!["restore", "ca"]),
            ("ca", vec!["restore"]),
            ("ollama", vec![]),
        ])
    }

    #[test]
    fn orders_dependencies_first_keeping_declaration_order() -> Result<(), DagError> {
        let s = pipeline()?;
        assert_eq!(
            s.names(),
            ["restore", "skills", "config", "ca", "python", "ollama"]
        );
        Ok(())
    }

    #[test]
    fn independent_steps_start_together() -> Result<(), DagError> {
        let mut s = pipeline()?;
        let names =
            |s: &Schedule, v: Vec<usize>| v.into_iter().map(|i| s.names()[i]).collect::<Vec<_>>();
        let first = s.start_ready();
        assert_eq!(names(&s, first), ["restore", "ollama"]);
        assert!(
            s.start_ready().is_empty(),
            "nothing new before restore ends"
        );
        s.finish(0, true);
        let second = s.start_ready();
        assert_eq!(names(&s, second), ["skills", "config", "ca"]);
        s.finish(3, true);
        let third = s.start_ready();
        assert_eq!(names(&s, third), ["python"]);
        for i in [1, 2, 4, 5] {
            assert!(!s.is_done());
            s.finish(i, true);
        }
        assert!(s.is_done());
        Ok(())
    }

    #[test]
    fn failure_blocks_dependents_transitively_and_nothing_else() -> Result<(), DagError> {
        let mut s = Schedule::new(&[
            ("a", vec![]),
            ("b", vec!["a"]),
            ("c", vec!["b"]),
            ("d", vec![]),
        ])?;
        assert_eq!(s.start_ready(), [0, 3]);
        assert_eq!(s.finish(0, false), [1, 2]);
        assert_eq!(s.state(2), NodeState::Blocked("a"));
        assert_eq!(
            s.state(3),
            NodeState::Running,
            "an independent step keeps running"
        );
        assert!(s.start_ready().is_empty());
        assert!(!s.is_done());
        s.finish(3, true);
        assert!(s.is_done());
        assert_eq!(blocked_message("a"), "not run: depends on a which failed");
        Ok(())
    }

    #[test]
    fn refuses_bad_graphs() {
        assert_eq!(
            Schedule::new(&[("a", vec![]), ("a", vec![])]).err(),
            Some(DagError::Duplicate("a"))
        );
        assert_eq!(
            Schedule::new(&[("a", vec!["x"])]).err(),
            Some(DagError::UnknownDependency {
                step: "a",
                dep: "x"
            })
        );
        assert_eq!(
            Schedule::new(&[("a", vec!["b"]), ("b", vec!["a"]), ("c", vec![])]).err(),
            Some(DagError::Cycle(vec!["a", "b"]))
        );
    }
}
