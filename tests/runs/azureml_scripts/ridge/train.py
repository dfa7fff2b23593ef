"""The cloud service's classic sample: ridge regression on the diabetes data
over a sweep of alphas, logging alpha and mse per step and keeping a model
per alpha in outputs/. Runs unchanged on the portal and on a laptop."""

import os

import joblib
import numpy as np
from azureml.core.run import Run
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sweep import alphas, split

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = split(X, y)

run = Run.get_context()
for alpha in alphas():
    model = Ridge(alpha=alpha).fit(X_train, y_train)
    mse = mean_squared_error(y_test, model.predict(X_test))
    run.log("alpha", alpha)
    run.log("mse", mse)
    model_file_name = f"ridge_{alpha:.2f}.pkl"
    with open(model_file_name, "wb") as file:
        joblib.dump(value=model, filename=file)
    # upload the model file explicitly into artifacts
    run.upload_file(name="outputs/" + model_file_name, path_or_stream=model_file_name)
    os.remove(model_file_name)
    print(f"alpha is {alpha:.2f}, and mse is {mse:.2f}")
run.tag("model", "ridge")
best = min(np.atleast_1d(run.get_metrics().get("mse", [])), default=None)
print("best mse", best)
