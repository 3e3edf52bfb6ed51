#!/usr/bin/env bash
# Continue the README's long benchmark runs in the background and commit their small resumable state every
# 20 minutes, so a session that ends loses at most that much. Run from the repository root, with .venv set up.
#
#   bash scripts/benchmark_campaign.sh start [NAME...]  # start (or resume) the runs below (default: all) and the committer
#   bash scripts/benchmark_campaign.sh pause    # SIGSTOP them (benchmarks, tests); `resume` sends SIGCONT
#   bash scripts/benchmark_campaign.sh commit   # commit the runs' state now
#   bash scripts/benchmark_campaign.sh status   # where each run stands (sebench status)
#   bash scripts/benchmark_campaign.sh table [TASK]  # the CartPole-v0 (or Acrobot-v1) table over the SEs learned so far
set -euo pipefail
cd "$(dirname "$0")/.."
SEBENCH=.venv/bin/sebench
mkdir -p logs

declare -A RUNS=(
  [cartpole_varied_set]="$SEBENCH train-ses --task CartPole-v0 --count 40 --give-up-after 6 --max-seeds 60 --vary-hp --iterations 100 --workers 2 --concurrent-seeds 2 --out results/zoo/CartPole-v0/varied_hp_v2"
  [cartpole_real_baseline]="$SEBENCH transfer --agents ddqn,dueling_ddqn,td3_discrete --num-envs 40 --agents-per-env 10 --episodes 10 --workers 1 --out results/transfer/CartPole-v0_real_v2 --resume"
  [acrobot_real_baseline]="$SEBENCH transfer --task Acrobot-v1 --agents ddqn --num-envs 1 --agents-per-env 10 --episodes 10 --workers 1 --out results/transfer/Acrobot-v1_real_v2 --resume"
  [acrobot_varied_se]="$SEBENCH train-ses --task Acrobot-v1 --count 1 --vary-hp --iterations 100 --workers 1 --out results/zoo/Acrobot-v1/varied_hp_v2"
)
STATE_PATHS=(results/zoo results/transfer)

# The transfer tables over the varied-HP SEs learned so far: per task, the SE settings' cells grow in
# results/transfer/TASK_ses_v2 as SEs finish, the real ones in results/transfer/TASK_real_v2 (a run above).
declare -A TABLE_SES=(
  [CartPole-v0]="supervised=results/zoo/CartPole-v0/supervised_v2 se_varied_hp=results/zoo/CartPole-v0/varied_hp_v2"
  [Acrobot-v1]="se_varied_hp=results/zoo/Acrobot-v1/varied_hp_v2"
)
declare -A TABLE_MODELS=([CartPole-v0]=results/zoo/CartPole-v0/supervised_v2)  # one supervised model per SE
declare -A TABLE_AGENTS=([CartPole-v0]=ddqn,dueling_ddqn,td3_discrete [Acrobot-v1]=ddqn)
declare -A TABLE_NAME=([CartPole-v0]=cp [Acrobot-v1]=acrobot)  # docs/transfer_<name><N>_v2

table() {  # $1: task. Compute the SE cells of every finished SE, then combine them with the real cells done.
  local task=$1 n_se n_real n
  [ -n "${TABLE_SES[$task]:-}" ] || { echo "no table for task '$task'; tables: ${!TABLE_SES[*]}" >&2; exit 2; }
  local protocol="--task $task --agents ${TABLE_AGENTS[$task]} --agents-per-env 10 --episodes 10 --quiet"
  local se_cells=results/transfer/${task}_ses_v2 real_cells=results/transfer/${task}_real_v2
  local out="runs/transfer_${TABLE_NAME[$task]}_v2" docs
  n_se=$(.venv/bin/python -c "from benchmark.errors import ConfigError; from benchmark.se_sets import find_ses
try: print(len(find_ses('results/zoo/$task/varied_hp_v2')))
except ConfigError: print(0)")
  [ "$n_se" -gt 0 ] || { echo "$task: no SE of results/zoo/$task/varied_hp_v2 has finished yet"; return 0; }
  if [ -n "${TABLE_MODELS[$task]:-}" ]; then  # as many supervised models as SEs (fits only the missing ones)
    $SEBENCH fit-models --task "$task" --count "$n_se" --workers 1 --quiet --out "${TABLE_MODELS[$task]}"
  fi
  $SEBENCH transfer --ses ${TABLE_SES[$task]} --no-real $protocol --num-envs "$n_se" --workers 1 --out "$se_cells" --resume
  n_real=$(.venv/bin/python -c "from benchmark.protocol import complete_envs
print(complete_envs('$real_cells', 'real', '${TABLE_AGENTS[$task]}'.split(',')))")
  n=$(( n_se < n_real ? n_se : n_real ))
  echo "$task: table over $n envs ($n_se SEs learned, the first $n_real real envs complete)"
  [ "$n" -gt 0 ] || return 0
  docs="docs/transfer_${TABLE_NAME[$task]}${n}_v2"
  rm -rf "$out"
  $SEBENCH transfer --ses ${TABLE_SES[$task]} $protocol --num-envs "$n" --out "$out" --reuse-cells "$real_cells" "$se_cells"
  mkdir -p "$docs"
  cp "$out"/{summary.md,summary.csv,per_env.md,*.png} "$docs/"
  cat "$docs/summary.md"
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
  table) table "${2:-CartPole-v0}" ;;
  pause) signal_all STOP ;;
  resume) signal_all CONT ;;
  status) $SEBENCH status results/zoo/CartPole-v0/varied_hp_v2 results/transfer/CartPole-v0_real_v2 results/zoo/Acrobot-v1/varied_hp_v2 \
            $(ls -d results/transfer/Acrobot-v1_real_v2 2>/dev/null) ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
