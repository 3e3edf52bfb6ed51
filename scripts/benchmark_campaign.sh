#!/usr/bin/env bash
# Continue the README's long benchmark runs in the background and commit their small resumable state every
# 20 minutes, so a session that ends loses at most that much. Run from the repository root, with .venv set up.
#
#   bash scripts/benchmark_campaign.sh start [NAME...]  # start (or resume) the runs below (default: all) and the committer
#   bash scripts/benchmark_campaign.sh pause    # SIGSTOP them (benchmarks, tests); `resume` sends SIGCONT
#   bash scripts/benchmark_campaign.sh commit   # commit the runs' state now
#   bash scripts/benchmark_campaign.sh status   # where each run stands (sebench status)
#   bash scripts/benchmark_campaign.sh table    # the CartPole table over every SE learned so far, into docs/
set -euo pipefail
cd "$(dirname "$0")/.."
SEBENCH=.venv/bin/sebench
mkdir -p logs

declare -A RUNS=(
  [cartpole_varied_set]="$SEBENCH train-ses --task CartPole-v0 --count 10 --give-up-after 6 --max-seeds 20 --vary-hp --iterations 100 --workers 2 --concurrent-seeds 2 --out results/zoo/CartPole-v0/varied_hp_v2"
  [cartpole_real_baseline]="$SEBENCH transfer --agents ddqn,dueling_ddqn,td3_discrete --num-envs 10 --agents-per-env 10 --episodes 10 --workers 1 --out results/transfer/CartPole-v0_real_v2 --resume"
  [acrobot_real_baseline]="$SEBENCH transfer --task Acrobot-v1 --agents ddqn --num-envs 10 --agents-per-env 10 --episodes 10 --workers 1 --out results/transfer/Acrobot-v1_real_v2 --resume"
  [acrobot_varied_se]="$SEBENCH train-ses --task Acrobot-v1 --count 1 --vary-hp --iterations 100 --workers 1 --out results/zoo/Acrobot-v1/varied_hp_v2"
)
STATE_PATHS=(results/zoo results/transfer)

# The CartPole transfer table: its SE settings' cells grow in SE_CELLS as SEs finish, its real cells in REAL_CELLS.
TABLE_SES="supervised=results/zoo/CartPole-v0/supervised_v2 se_varied_hp=results/zoo/CartPole-v0/varied_hp_v2"
TABLE_PROTOCOL="--agents ddqn,dueling_ddqn,td3_discrete --agents-per-env 10 --episodes 10 --quiet"
SE_CELLS=results/transfer/CartPole-v0_ses_v2
REAL_CELLS=results/transfer/CartPole-v0_real_v2

table() {  # compute the SE cells of every finished SE, then combine them with the real cells done (no computing)
  local n_se n_real n
  n_se=$(.venv/bin/python -c "from benchmark.se_sets import find_ses; print(len(find_ses('results/zoo/CartPole-v0/varied_hp_v2')))")
  $SEBENCH transfer --ses $TABLE_SES --no-real $TABLE_PROTOCOL --num-envs "$n_se" --workers 1 --out $SE_CELLS --resume
  n_real=$(.venv/bin/python -c "from benchmark.protocol import complete_envs; print(complete_envs('$REAL_CELLS', 'real', ['ddqn', 'dueling_ddqn', 'td3_discrete']))")
  n=$(( n_se < n_real ? n_se : n_real ))
  echo "table over $n envs ($n_se SEs learned, $n_real real envs complete)"
  rm -rf "runs/transfer_cp${n}_v2"
  $SEBENCH transfer --ses $TABLE_SES $TABLE_PROTOCOL --num-envs "$n" --out "runs/transfer_cp${n}_v2" \
    --reuse-cells $REAL_CELLS $SE_CELLS
  mkdir -p "docs/transfer_cp${n}_v2"
  cp "runs/transfer_cp${n}_v2"/{summary.md,summary.csv,*.png} "docs/transfer_cp${n}_v2/"
  cat "docs/transfer_cp${n}_v2/summary.md"
}

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
  table) table ;;
  pause) signal_all STOP ;;
  resume) signal_all CONT ;;
  status) $SEBENCH status results/zoo/CartPole-v0/varied_hp_v2 $REAL_CELLS results/zoo/Acrobot-v1/varied_hp_v2 \
            $(ls -d results/transfer/Acrobot-v1_real_v2 2>/dev/null) ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
