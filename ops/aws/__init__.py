"""The SageMaker backend: AWS sessions, training and tuning jobs, job watching."""
