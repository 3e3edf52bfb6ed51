#!/usr/bin/env bash
# The long runs behind docs/results/: learn SE sets and transfer tables in the background, resumably. Their state
# lives in results/campaign/ (checkpoints, histories, cells); finished SEs are copied into the zoo with `promote`.
# Run from the repository root, with .venv set up (the README's set-up command).
#
#   bash scripts/benchmark_campaign.sh start NAME...   # start (or resume) these runs in the background
#   bash scripts/benchmark_campaign.sh list            # the runs and their commands
#   bash scripts/benchmark_campaign.sh status          # where each run stands (sebench status)
#   bash scripts/benchmark_campaign.sh stop            # SIGTERM every run (they checkpoint; `start` resumes)
#   bash scripts/benchmark_campaign.sh commit          # commit the campaign's state (results/campaign)
#   bash scripts/benchmark_campaign.sh promote         # copy the finished SEs into results/zoo (SE files only)
set -euo pipefail
cd "$(dirname "$0")/.."
SEBENCH=.venv/bin/sebench
CAMPAIGN=results/campaign
mkdir -p logs "$CAMPAIGN"

CP=$CAMPAIGN/CartPole-v0
PT_ZOO=results/zoo/CartPole-v0/paper_transfer_v3
SUP_ZOO=results/zoo/CartPole-v0/supervised_v3
running() {  # running PID: the process lives (an exited run nobody reaped stays a zombie, which kill -0 finds)
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" | cut -c1)" != Z ]
}
finished_ses() { (find "$1" -mindepth 2 -maxdepth 2 -name se.json 2>/dev/null || true) | wc -l; }
transfer() {  # transfer LABEL SET OUT [AGENTS]: 10 agents x 10 episodes on each finished SE of SET
  echo "$SEBENCH transfer --task CartPole-v0 --ses $1=$2 --agents ${4:-ddqn,dueling_ddqn} --num-envs $(finished_ses "$2")" \
       "--agents-per-env 10 --episodes 10 --no-real --workers 1 --quiet --resume --out $3"
}
HL="train-ses --task CartPole-v0 --workers 1 --quiet --fixed-hp --centre-agents 4 --population 8 --iterations 12 --count 2 --max-seeds 2"
SET="train-ses --task CartPole-v0 --workers 2 --concurrent-seeds 2 --quiet"
declare -A RUNS=(
  # issue 25: the published recipe first, then one change per ablation arm (same seeds, so arms pair up)
  [cp_paper_transfer]="$SEBENCH $SET --preset paper_transfer --count 10 --out $CP/paper_transfer"  # 10 for the benchmark table
  [cp_ablate_opt_nes]="$SEBENCH $SET --preset paper_transfer --config scripts/campaign/ablate_opt_nes.json --count 2 --max-seeds 4 --out $CP/ablate_opt_nes"
  [cp_ablate_shared_mlp]="$SEBENCH $SET --preset paper_transfer --config scripts/campaign/ablate_shared_mlp.json --count 2 --max-seeds 4 --out $CP/ablate_shared_mlp"
  # the real baseline under the 0.3.0 agent base (3 envs for the 3 x 10 x 10 table; env 0 is the headline's)
  [cp_real_v3]="$SEBENCH transfer --task CartPole-v0 --agents ddqn,dueling_ddqn --num-envs 3 --agents-per-env 10 --episodes 10 --workers 1 --quiet --resume --out results/transfer/CartPole-v0_real_v3"
  # the transfer table on the solved paper_transfer SEs (promote first; one env per SE in the zoo set)
  [cp_transfer_pt]=$(transfer se_paper_transfer "$PT_ZOO" "$CP/transfer_paper_transfer")
  # discrete TD3 (its own folders: a resumed transfer may only grow --num-envs), on the SEs and on the real task
  [cp_transfer_pt_td3]=$(transfer se_paper_transfer "$PT_ZOO" "$CP/transfer_paper_transfer_td3" td3_discrete)
  # the supervised baseline of the recipe: its SE architecture fitted to real transitions of its agents
  [cp_supervised_pt]="$SEBENCH fit-models --task CartPole-v0 --preset paper_transfer --count 10 --workers 1 --quiet --out $CP/supervised_paper_transfer"
  [cp_transfer_supervised]=$(transfer supervised "$SUP_ZOO" "$CP/transfer_supervised")
  [cp_real_v3_td3]="$SEBENCH transfer --task CartPole-v0 --agents td3_discrete --num-envs 3 --agents-per-env 10 --episodes 10 --workers 1 --quiet --resume --out results/transfer/CartPole-v0_real_v3_td3"
  # Acrobot-v1 on the recipe (3 SEs for the 3 x 10 x 10 DDQN / Dueling DDQN table; start once the recipe is chosen)
  [ac_paper_transfer]="$SEBENCH train-ses --task Acrobot-v1 --workers 2 --concurrent-seeds 2 --quiet --preset paper_transfer --count 3 --out $CAMPAIGN/Acrobot-v1/paper_transfer"
  # the headline's own SE (item 7): which recipe solves within about 10 minutes on 2 idle cores with 4 centre agents
  # (hl_transfer_small did: its fields are the `quick` preset's, which the headline now learns with; cp_quick goes on)
  [hl_paper_opt]="$SEBENCH $HL --preset paper_opt --out $CP/headline_paper_opt"
  [hl_transfer_fixed]="$SEBENCH $HL --preset paper_transfer --out $CP/headline_transfer_fixed"
  [hl_transfer_small]="$SEBENCH $HL --preset paper_transfer --config scripts/campaign/headline_small_agent.json --out $CP/headline_transfer_small"
  [cp_quick]="$SEBENCH train-ses --task CartPole-v0 --workers 1 --quiet --preset quick --count 3 --max-seeds 6 --out $CP/quick"
  [cp_ablate_boolean_done]="$SEBENCH $SET --preset paper_transfer --config scripts/campaign/ablate_boolean_done.json --count 2 --max-seeds 4 --out $CP/ablate_boolean_done"
)
for arm in opt_nes shared_mlp boolean_done; do  # each ablation arm's solved SEs, straight from its campaign set
  RUNS[cp_transfer_$arm]=$(transfer "se_ablate_$arm" "$CP/ablate_$arm" "$CP/transfer_ablate_$arm")
done
declare -A ZOO=(  # campaign set -> zoo set (finished SEs only)
  [$CP/paper_transfer]=$PT_ZOO
  [$CP/supervised_paper_transfer]=$SUP_ZOO
  [$CAMPAIGN/Acrobot-v1/paper_transfer]=results/zoo/Acrobot-v1/paper_transfer_v3
  [$CP/quick]=results/zoo/CartPole-v0/fixed_hp_v3  # the quick preset's fixed-HP SEs (the headline's --zoo set)
)

case "${1:-}" in
  start)
    shift
    [ $# -gt 0 ] || { echo "name the runs to start: ${!RUNS[*]}" >&2; exit 2; }
    for name in "$@"; do
      [ -n "${RUNS[$name]:-}" ] || { echo "unknown run '$name'; runs: ${!RUNS[*]}" >&2; exit 2; }
      if [[ "${RUNS[$name]}" == *"--num-envs 0 "* ]]; then  # a transfer run before its set has a finished SE
        echo "$name: its SE set has no finished SE yet (for a zoo set: run promote once the campaign set has one)" >&2; exit 2
      fi
      pid=$(cat "logs/$name.pid" 2>/dev/null || true)
      if running "$pid"; then echo "$name: running ($pid)"; continue; fi
      nohup ${RUNS[$name]} >> "logs/$name.log" 2>&1 &
      echo $! > "logs/$name.pid"
      echo "$name: started ($!)"
    done ;;
  list) for name in "${!RUNS[@]}"; do echo "$name: ${RUNS[$name]}"; done ;;
  status) $SEBENCH status $(find "$CAMPAIGN" -mindepth 2 -maxdepth 2 -type d | sort) ;;
  stop) for f in logs/*.pid; do kill -TERM "$(cat "$f")" 2>/dev/null || true; done ;;
  commit) git add "$CAMPAIGN" && git commit -q -m "Campaign state: checkpoints, histories and cells so far (resumable)" -- "$CAMPAIGN" \
            || echo "nothing to commit" ;;
  promote)
    for set in "${!ZOO[@]}"; do
      for se in "$set"/se_*/; do
        [ -f "$se/se.json" ] || continue
        dest="${ZOO[$set]}/$(basename "$se")"
        mkdir -p "$dest" && cp "$se"/se.{json,safetensors} "$dest/"
        [ ! -f "$se/history.csv" ] || cp "$se/history.csv" "$dest/"  # fitted models have none
      done
    done ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
