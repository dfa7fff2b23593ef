"""A sweep's trial: an SGD classifier on the digits data, trained one epoch
per step, logging its held-out accuracy each step through the cloud
service's Run API. A large --alpha underfits, which early termination sees."""

import argparse
import time

from azureml.core import Run
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, required=True)
parser.add_argument("--loss", default="hinge")
parser.add_argument("--steps", type=int, default=8)
parser.add_argument("--pause", type=float, default=0.3)
args = parser.parse_args()

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
model = SGDClassifier(alpha=args.alpha, loss=args.loss, random_state=0)
run = Run.get_context()
for step in range(args.steps):
    model.partial_fit(X_train, y_train, classes=list(range(10)))
    accuracy = model.score(X_test, y_test)
    run.log("accuracy", accuracy)
    print(f"step {step} alpha {args.alpha} loss {args.loss} accuracy {accuracy:.4f}", flush=True)
    time.sleep(args.pause)
