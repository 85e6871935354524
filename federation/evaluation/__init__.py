"""Evaluation: eval suites, task metrics, LLM-as-judge and eval runs on the inference queue."""
