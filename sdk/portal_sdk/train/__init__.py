"""The cloud SDK's ``train`` names: ``portal_sdk.train.hyperdrive`` (``azureml.train.hyperdrive``)."""
