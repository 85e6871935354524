"""Datasets & mappings: the dataset library and validation, RMIS schema, schema mappings, data browser."""
