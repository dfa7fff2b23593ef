"""The compute portal's stand-in for the cloud service's ``azureml`` package:
only ``azureml.core.Run`` (see azureml/core/run.py). An environment with the
real package imports that one instead."""
