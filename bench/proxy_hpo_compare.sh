#!/bin/bash
# HPO on the SE proxy vs on the real task: five proxy-hpo runs of 300 s each, one after another, then the comparison.
cd "$(dirname "$0")/.."  # the repository root
S=results/zoo/CartPole-v0/varied_hp/se_000  # the one SE the README figures were measured with
C="--task CartPole-v0 --agent ddqn --wall-budget 300 --seed 0 --agents 2 --test-episodes 5 --min-budget 10 --max-budget 100 --eta 3 --score-agents 3 --score-max-episodes 200"
for spec in "bohb se" "bohb real" "random se" "random real" "bohb multi"; do
  set -- $spec
  out=runs/proxy_hpo/$1_$2
  [ -f $out/incumbents.csv ] && continue
  ses=""; [ $2 != real ] && ses="--ses $S"
  /usr/bin/time -f "$1 $2 wall %e s" .venv/bin/sebench proxy-hpo $C $ses --optimizer $1 --environment $2 --out $out
done
.venv/bin/sebench proxy-hpo --compare runs/proxy_hpo/{bohb_se,bohb_real,random_se,random_real,bohb_multi} --out runs/proxy_hpo/compare
