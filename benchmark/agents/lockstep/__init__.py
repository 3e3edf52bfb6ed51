"""The batched ("lockstep") engine: many agents of one kind trained as one computation, each member in one row of
every tensor, each training as its scalar agent would with the same config and seed (up to float summation order).

- `core`: what every lockstep trainer shares (stacked MLPs with hand-written backward passes, per-row Adam, the
  packed replay, per-member episode bookkeeping and stopping, batched greedy tests);
- `ddqn`: DDQN / Dueling DDQN (`benchmark.agents.ddqn`);
- `td3_common`: what the two TD3 trainers share (actors, twin critics, the delayed actor step);
- `td3`: continuous TD3 (`benchmark.agents.td3`), `td3_discrete`: discrete TD3 (`benchmark.agents.td3_discrete`).

`benchmark.agents.registry` names each kind's trainer (LOCKSTEP_DDQN, LOCKSTEP_TD3, LOCKSTEP_TD3_DISCRETE).
"""
