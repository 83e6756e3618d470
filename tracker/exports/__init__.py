"""Workbooks: turn (headers, rows) into xlsx files; cell sanitising lives here, once."""
