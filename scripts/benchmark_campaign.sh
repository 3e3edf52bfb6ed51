#!/usr/bin/env bash
# Continue the README's long benchmark runs in the background and commit their small resumable state every
# 20 minutes, so a session that ends loses at most that much. Run from the repository root, with .venv set up.
#
#   bash scripts/benchmark_campaign.sh start [NAME...]  # start (or resume) the runs below (default: all) and the committer
#   bash scripts/benchmark_campaign.sh pause    # SIGSTOP them (benchmarks, tests); `resume` sends SIGCONT
#   bash scripts/benchmark_campaign.sh commit   # commit the runs' state now
#   bash scripts/benchmark_campaign.sh status   # where each run stands (sebench status)
set -euo pipefail
cd "$(dirname "$0")/.."
SEBENCH=.venv/bin/sebench
mkdir -p logs

declare -A RUNS=(
  [cartpole_varied_set]="$SEBENCH train-ses --task CartPole-v0 --count 10 --give-up-after 6 --max-seeds 20 --vary-hp --iterations 100 --workers 2 --concurrent-seeds 2 --out results/zoo/CartPole-v0/varied_hp_v2"
  [cartpole_real_baseline]="$SEBENCH transfer --agents ddqn,dueling_ddqn,td3_discrete --num-envs 10 --agents-per-env 10 --episodes 10 --workers 1 --out results/transfer/CartPole-v0_real_v2 --resume"
  [acrobot_varied_se]="$SEBENCH train-ses --task Acrobot-v1 --count 1 --vary-hp --iterations 100 --workers 1 --out results/zoo/Acrobot-v1/varied_hp_v2"
)
STATE_PATHS=(results/zoo results/transfer)

commit_state() {
  git add "${STATE_PATHS[@]}"
  git commit -q -m "Run state: long benchmark runs' checkpoints and cells so far (resumable)" -- "${STATE_PATHS[@]}" \
    || echo "nothing to commit"
}

signal_all() {  # $1: STOP or CONT, to each run and its worker processes
  for name in "${!RUNS[@]}"; do
    pid=$(cat "logs/$name.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -"$1" "$pid" $(pgrep -P "$pid" || true) 2>/dev/null || true
  done
}

case "${1:-}" in
  start)
    shift
    names=("$@"); [ ${#names[@]} -eq 0 ] && names=("${!RUNS[@]}")
    for name in "${names[@]}"; do
      [ -n "${RUNS[$name]:-}" ] || { echo "unknown run '$name'; runs: ${!RUNS[*]}" >&2; exit 2; }
      pid=$(cat "logs/$name.pid" 2>/dev/null || true)
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$name: running ($pid)"; continue; fi
      nohup ${RUNS[$name]} >> "logs/$name.log" 2>&1 &
      echo $! > "logs/$name.pid"
      echo "$name: started ($!)"
    done
    if ! pgrep -f "benchmark_campaign.sh commit-loop" > /dev/null; then
      nohup bash "$0" commit-loop > /dev/null 2>&1 &
    fi ;;
  commit-loop) while true; do sleep 1200; commit_state >> logs/campaign_commits.log 2>&1 || true; done ;;
  commit) commit_state ;;
  pause) signal_all STOP ;;
  resume) signal_all CONT ;;
  status) $SEBENCH status results/zoo/CartPole-v0/varied_hp_v2 results/transfer/CartPole-v0_real_v2 results/zoo/Acrobot-v1/varied_hp_v2 ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
