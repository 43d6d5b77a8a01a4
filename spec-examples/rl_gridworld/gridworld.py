"""A 4x4 GridWorld (Gymnasium step API, no gymnasium needed) that writes transitions.jsonl.

obs: [row, col] scaled to [0, 1]; actions Discrete(4) (up, right, down, left); reward -0.01 per
step, +1 at the goal (3, 3) (terminated); episodes are truncated after 20 steps. A seeded random
policy; each line is one step record with its episode id (#19).
"""
import json
import random
import sys

SIZE, GOAL, MAX_STEPS = 4, (3, 3), 20
MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]


def observe(pos):
    return [pos[0] / (SIZE - 1), pos[1] / (SIZE - 1)]


def main(path="transitions.jsonl", episodes=6, seed=19):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for episode in range(episodes):
            pos = (0, 0)  # reset
            for step in range(1, MAX_STEPS + 1):
                action = rng.randrange(4)
                dr, dc = MOVES[action]
                nxt = (min(max(pos[0] + dr, 0), SIZE - 1), min(max(pos[1] + dc, 0), SIZE - 1))
                terminated = nxt == GOAL
                truncated = not terminated and step == MAX_STEPS
                record = {
                    "episode": episode,
                    "obs": observe(pos),
                    "action": action,
                    "reward": 1.0 if terminated else -0.01,
                    "next_obs": observe(nxt),
                    "terminated": terminated,
                    "truncated": truncated,
                }
                f.write(json.dumps(record) + "\n")
                pos = nxt
                if terminated or truncated:
                    break


if __name__ == "__main__":
    main(*sys.argv[1:2])
