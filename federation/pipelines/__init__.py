"""Continuous training pipelines: new data → dataset version → quality gate → train → evaluate against production →
promote or hold for approval → update the deployment, with the lineage of every step."""
