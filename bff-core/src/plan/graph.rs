//! The call graph of an endpoint: who waits for whom, cycles, and the
//! stages `explain` shows.

/// Orders calls so that every call comes after the calls it depends on.
/// Returns the calls caught in a cycle when there is one, as a path that
/// starts and ends with the same call.
pub fn check_acyclic(deps: &[Vec<usize>]) -> Result<(), Vec<usize>> {
    let n = deps.len();
    // 0 = unvisited, 1 = on the current path, 2 = done
    let mut state = vec![0u8; n];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        deps: &[Vec<usize>],
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Result<(), Vec<usize>> {
        state[i] = 1;
        stack.push(i);
        for &d in &deps[i] {
            match state[d] {
                0 => visit(d, deps, state, stack)?,
                1 => {
                    let start = stack.iter().position(|&s| s == d).unwrap_or(0);
                    let mut cycle: Vec<usize> = stack[start..].to_vec();
                    cycle.push(d);
                    return Err(cycle);
                }
                _ => {}
            }
        }
        stack.pop();
        state[i] = 2;
        Ok(())
    }
    for i in 0..n {
        if state[i] == 0 {
            visit(i, deps, &mut state, &mut stack)?;
        }
    }
    Ok(())
}

/// The stage of each call: 0 for calls that start at once, else one more
/// than the latest stage among its dependencies. Calls of one stage may
/// run in parallel; a call still starts as soon as its own inputs are done.
pub fn stages(deps: &[Vec<usize>]) -> Vec<usize> {
    fn stage(i: usize, deps: &[Vec<usize>], memo: &mut [Option<usize>]) -> usize {
        if let Some(s) = memo[i] {
            return s;
        }
        let s = deps[i]
            .iter()
            .map(|&d| stage(d, deps, memo) + 1)
            .max()
            .unwrap_or(0);
        memo[i] = Some(s);
        s
    }
    let mut memo = vec![None; deps.len()];
    (0..deps.len()).map(|i| stage(i, deps, &mut memo)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cycles() {
        assert!(check_acyclic(&[vec![], vec![0], vec![0, 1]]).is_ok());
        assert_eq!(
            check_acyclic(&[vec![2], vec![0], vec![1]]),
            Err(vec![0, 2, 1, 0])
        );
        assert_eq!(check_acyclic(&[vec![0]]), Err(vec![0, 0]));
    }

    #[test]
    fn stages_follow_longest_path() {
        assert_eq!(
            stages(&[vec![], vec![], vec![0], vec![2, 1]]),
            vec![0, 0, 1, 2]
        );
    }
}
