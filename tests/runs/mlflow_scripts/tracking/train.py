"""An MLflow script as people write them: params, per-step metrics, an
artifact and a logged scikit-learn model; nothing in it knows the portal."""

import mlflow
import mlflow.sklearn
import numpy as np
from data import make_data
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error

X, y = make_data()
with mlflow.start_run() as run:
    print("mlflow run", run.info.run_id)
    mlflow.log_param("alpha", 0.5)
    mlflow.set_tag("model", "ridge")
    for step, alpha in enumerate(np.linspace(0.1, 2.0, 5)):
        model = Ridge(alpha=float(alpha)).fit(X, y)
        mse = mean_squared_error(y, model.predict(X))
        mlflow.log_metric("mse", mse, step=step)
    mlflow.log_metrics({"final_mse": mse, "n_samples": float(len(y))})
    with open("report.txt", "w") as f:
        f.write(f"final mse {mse:.6f}\n")
    mlflow.log_artifact("report.txt")
    mlflow.sklearn.log_model(model, name="model")
print("done")
