"""Meta-World task names, task sets and one natural-language instruction per task."""

from __future__ import annotations

INSTRUCTIONS = {
    "assembly-v3": "put the ring on the peg",
    "basketball-v3": "dunk the ball into the basket",
    "bin-picking-v3": "move the block from one bin to the other",
    "box-close-v3": "put the lid on the box",
    "button-press-topdown-v3": "press the button from the top",
    "button-press-topdown-wall-v3": "press the button behind the wall from the top",
    "button-press-v3": "press the button from the front",
    "button-press-wall-v3": "press the button behind the wall from the front",
    "coffee-button-v3": "push the button on the coffee machine",
    "coffee-pull-v3": "pull the mug away from the coffee machine",
    "coffee-push-v3": "push the mug under the coffee machine",
    "dial-turn-v3": "turn the dial",
    "disassemble-v3": "take the ring off the peg",
    "door-close-v3": "close the door",
    "door-lock-v3": "lock the door by turning the lock",
    "door-open-v3": "open the door",
    "door-unlock-v3": "unlock the door by turning the lock",
    "hand-insert-v3": "move the hand into the hole",
    "drawer-close-v3": "push the drawer closed",
    "drawer-open-v3": "pull the drawer open",
    "faucet-open-v3": "turn the faucet on",
    "faucet-close-v3": "turn the faucet off",
    "hammer-v3": "hammer the nail into the wall",
    "handle-press-side-v3": "press the handle down from the side",
    "handle-press-v3": "press the handle down",
    "handle-pull-side-v3": "pull the handle up from the side",
    "handle-pull-v3": "pull the handle up",
    "lever-pull-v3": "pull the lever up",
    "pick-place-wall-v3": "pick up the puck and place it at the goal behind the wall",
    "pick-out-of-hole-v3": "pick the puck out of the hole",
    "pick-place-v3": "pick up the puck and place it at the goal",
    "plate-slide-v3": "slide the plate into the cabinet",
    "plate-slide-side-v3": "slide the plate into the cabinet from the side",
    "plate-slide-back-v3": "slide the plate out of the cabinet",
    "plate-slide-back-side-v3": "slide the plate out of the cabinet to the side",
    "peg-insert-side-v3": "insert the peg into the hole from the side",
    "peg-unplug-side-v3": "unplug the peg from the side",
    "soccer-v3": "kick the ball into the goal",
    "stick-push-v3": "grasp the stick and push the box with it",
    "stick-pull-v3": "grasp the stick and pull the box with it",
    "push-v3": "push the puck to the goal",
    "push-wall-v3": "push the puck around the wall to the goal",
    "push-back-v3": "push the puck back to the goal",
    "reach-v3": "reach the goal",
    "reach-wall-v3": "reach the goal behind the wall",
    "shelf-place-v3": "pick up the puck and place it on the shelf",
    "sweep-into-v3": "sweep the puck into the hole",
    "sweep-v3": "sweep the puck off the table",
    "window-open-v3": "slide the window open",
    "window-close-v3": "slide the window closed",
}

MT10 = ("reach-v3", "push-v3", "pick-place-v3", "door-open-v3", "drawer-open-v3", "drawer-close-v3",
        "button-press-topdown-v3", "peg-insert-side-v3", "window-open-v3", "window-close-v3")
MT50 = tuple(INSTRUCTIONS)
#: MT10's precise tasks, where a puck, peg or goal marker a few pixels wide decides (the benchmark's bar is on them).
MT10_PRECISE = ("reach-v3", "push-v3", "pick-place-v3", "peg-insert-side-v3")

#: The demo's tasks: the object or goal is placed at random and seen only in the image, so the image
#: decides where to go (proprioception alone cannot solve them), each with a distinct scene.
#: Tasks whose image shows a large articulated object: learnable from few demonstrations at 64 px
#: (`--tasks articulated`; `egovla demo --preset demo-easy`).
ARTICULATED = ("button-press-topdown-v3", "drawer-open-v3", "drawer-close-v3", "window-open-v3")
#: The harder set of earlier runs (`--tasks demo-hard`): those four with push and reach, where a puck or a goal
#: marker a few pixels wide decides; reach reached 65-80% within the demo's 10 minutes (README).
DEMO_HARD = ARTICULATED + ("push-v3", "reach-v3")
#: `egovla demo`'s default set: the four with push and pick-place, learned by its preset with 100 demonstrations of
#: each of the two at 128 px.
DEMO_TASKS = ARTICULATED + ("push-v3", "pick-place-v3")

#: MT50 by difficulty, in the grouping LeRobot's Meta-World evaluation and SmolVLA's paper report
#: (easy 28, medium 11, hard 6, very hard 5 tasks).
DIFFICULTY = {
    "easy": ("button-press-v3", "button-press-topdown-v3", "button-press-topdown-wall-v3", "button-press-wall-v3",
             "coffee-button-v3", "dial-turn-v3", "door-close-v3", "door-lock-v3", "door-open-v3", "door-unlock-v3",
             "drawer-close-v3", "drawer-open-v3", "faucet-close-v3", "faucet-open-v3", "handle-press-v3",
             "handle-press-side-v3", "handle-pull-v3", "handle-pull-side-v3", "lever-pull-v3", "plate-slide-v3",
             "plate-slide-back-v3", "plate-slide-back-side-v3", "plate-slide-side-v3", "reach-v3", "reach-wall-v3",
             "window-close-v3", "window-open-v3", "peg-unplug-side-v3"),
    "medium": ("basketball-v3", "bin-picking-v3", "box-close-v3", "coffee-pull-v3", "coffee-push-v3", "hammer-v3",
               "peg-insert-side-v3", "push-wall-v3", "soccer-v3", "sweep-v3", "sweep-into-v3"),
    "hard": ("assembly-v3", "hand-insert-v3", "pick-out-of-hole-v3", "pick-place-v3", "push-v3", "push-back-v3"),
    "very_hard": ("shelf-place-v3", "disassemble-v3", "stick-pull-v3", "stick-push-v3", "pick-place-wall-v3"),
}

TASK_SETS = {"mt10": MT10, "mt50": MT50, "demo": DEMO_TASKS, "demo-hard": DEMO_HARD, "articulated": ARTICULATED,
             **DIFFICULTY}


def parse_tasks(spec: str) -> tuple[str, ...]:
    """"mt10" | "mt50" | "demo" | "demo-hard" | "articulated" | a difficulty ("easy", "medium", "hard",
    "very_hard") | "T1,T2" (the "-v3" suffix may be left out) -> task names."""
    spec = spec.strip()
    if spec.lower() in TASK_SETS:
        return TASK_SETS[spec.lower()]
    out = []
    for name in (s.strip() for s in spec.split(",") if s.strip()):
        full = name if name.endswith("-v3") else f"{name}-v3"
        if full not in INSTRUCTIONS:
            raise ValueError(f"--tasks: unknown Meta-World task {name!r}; expected mt10, mt50, demo, demo-hard, "
                             f"articulated, a difficulty (easy, medium, hard, very_hard) or names like push-v3 "
                             f"(known: {', '.join(sorted(INSTRUCTIONS))})")
        out.append(full)
    if not out:
        raise ValueError("--tasks: empty task list")
    return tuple(dict.fromkeys(out))
