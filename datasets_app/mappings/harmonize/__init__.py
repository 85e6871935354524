"""The harmonization engine (pure DuckDB + pydantic, no ORM): rules, SQL compiler, browser queries, validation, exports."""
