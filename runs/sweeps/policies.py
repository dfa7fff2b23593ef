"""STAND-IN for the sweep-core branch's policies (dropped at its merge)."""


class NoPolicy:
    def evaluate(self, streams, goal, finished):
        return {}


class BanditPolicy:
    def __init__(self, slack_factor=None, slack_amount=None, evaluation_interval=1, delay_evaluation=0):
        if (slack_factor is None) == (slack_amount is None):
            raise ValueError("Give the bandit policy a slack factor or a slack amount.")
        self.factor, self.amount = slack_factor, slack_amount
        self.interval, self.delay = int(evaluation_interval or 1), int(delay_evaluation or 0)

    def evaluate(self, streams, goal, finished):
        stop = {}
        for child, points in streams.items():
            if child in finished or not points:
                continue
            step, value = points[-1]
            if step < self.delay or step % self.interval:
                continue
            others = [v for pts in streams.values() for s, v in pts if s <= step]
            best = max(others) if goal == "maximize" else min(others)
            if goal == "maximize":
                bound = best / (1 + self.factor) if self.factor is not None else best - self.amount
                if value < bound:
                    stop[child] = f"Stopped by the bandit policy at step {step}: {value:.4g} < {bound:.4g}"
            else:
                bound = best * (1 + self.factor) if self.factor is not None else best + self.amount
                if value > bound:
                    stop[child] = f"Stopped by the bandit policy at step {step}: {value:.4g} > {bound:.4g}"
        return stop


def make_policy(kind, **options):
    if kind in ("none", "", None):
        return NoPolicy()
    if kind == "bandit":
        return BanditPolicy(**options)
    if kind in ("median", "truncation"):
        return NoPolicy()  # stand-in only
    raise ValueError(f"Unknown policy {kind!r}.")
