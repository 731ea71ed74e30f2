"""Small generated demo data for local mode (`make run`); not the shared source datasets."""
