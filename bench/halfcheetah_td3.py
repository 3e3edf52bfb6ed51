"""One default TD3 agent on HalfCheetah-v5 for 100 episodes (100k steps): how close does it get to the 3000 threshold?

    python bench/halfcheetah_td3.py   (needs the mujoco extra: pip install -e ".[mujoco]")
"""
import dataclasses, time, json
import numpy as np, torch
torch.set_num_threads(1)
from benchmark.envs.reward import make_env
from benchmark.agents.td3 import TD3, TD3Config
env = make_env("HalfCheetah-v5")
cfg = dataclasses.replace(TD3Config(), max_episodes=100)
agent = TD3(env.observation_space.shape[0], env.action_space, cfg, seed=0)
t0 = time.perf_counter()
res = agent.train(env, solved=3000.0)
wall = time.perf_counter() - t0
test = agent.evaluate(make_env("HalfCheetah-v5"), 5)
r = np.array(res.returns)
print(json.dumps({"episodes": len(r), "steps": int(sum(res.lengths)), "wall_s": round(wall, 1),
                  "ms_per_step": round(1000 * wall / sum(res.lengths), 2),
                  "returns_every_10": [round(float(x), 1) for x in r[::10]], "best": round(float(r.max()), 1),
                  "last10_mean": round(float(r[-10:].mean()), 1), "test_mean": round(float(test.mean()), 1)}))
