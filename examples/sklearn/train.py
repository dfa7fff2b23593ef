"""Train a small classifier on the iris data set that ships with scikit-learn.

Logs loss and accuracy per epoch with the portal's helper and writes the
model to ./outputs, which the portal collects when the run ends.

    python train.py --epochs 20 --lr 0.05
"""

import argparse
import json
import os
import pickle

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split

from portal_run import Run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    run = Run.get_context()
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=args.seed, stratify=y
    )
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    classes = np.unique(y)
    model = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=args.lr, random_state=args.seed)

    print(f"Training on {len(X_train)} samples, testing on {len(X_test)}, {args.epochs} epochs")
    for epoch in range(args.epochs):
        model.partial_fit(X_train, y_train, classes=classes)
        loss = log_loss(y_train, model.predict_proba(X_train), labels=classes)
        accuracy = accuracy_score(y_test, model.predict(X_test))
        run.log("loss", loss, step=epoch)
        run.log("accuracy", accuracy, step=epoch)
        print(f"epoch {epoch:3d}  loss {loss:.4f}  test accuracy {accuracy:.3f}")

    os.makedirs("outputs", exist_ok=True)
    with open("outputs/model.pkl", "wb") as f:
        pickle.dump({"model": model, "mean": mean, "std": std}, f)
    with open("outputs/metrics.json", "w") as f:
        json.dump({"loss": loss, "accuracy": accuracy, "epochs": args.epochs}, f, indent=2)
    print("Saved outputs/model.pkl and outputs/metrics.json")


if __name__ == "__main__":
    main()
