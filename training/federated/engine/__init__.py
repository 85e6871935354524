"""The Flower side of federated training: no Django here (the ServerApp/ClientApp run on other hosts)."""
