"""mlflow.autolog() with scikit-learn: every fit() is an MLflow run."""

import mlflow
import numpy as np
from sklearn.linear_model import Ridge

mlflow.autolog()
rng = np.random.default_rng(1)
X = rng.normal(size=(40, 2))
y = X.sum(axis=1) + rng.normal(scale=0.1, size=40)
for alpha in (0.1, 1.0):
    Ridge(alpha=alpha).fit(X, y)
print("done")
