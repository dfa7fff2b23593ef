"""An older sample's style: Run.get_submitted_run() and argparse arguments."""

import argparse
import os

from azureml.core.run import Run

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--learning-rate", dest="learning_rate", type=float, default=0.1)
parser.add_argument("--model-name", default="tiny")
args = parser.parse_args()

run = Run.get_submitted_run()
run.tag("model", args.model_name)
run.set_tags({"epochs": args.epochs, "learning_rate": args.learning_rate})
loss = 1.0
for _ in range(args.epochs):
    loss *= 1 - args.learning_rate
    run.log("loss", loss)
assert len(run.get_metrics()["loss"]) == args.epochs

os.makedirs("outputs", exist_ok=True)
with open("outputs/summary.txt", "w") as f:
    f.write(f"{run.experiment.name} {run.id} loss={loss:.4f}\n")
print(f"experiment {run.experiment.name}, run {run.id}, final loss {loss:.4f}")
run.complete()
