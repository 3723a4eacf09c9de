"""The customers' CSV file (an export of the licensing system): its rows as customer records,
every bad row reported with its line number.

`ivr.outside.licensing.FileSource` serves calls from it; `ivr check` lists its problems
(`check_source`). Reading the file is all this module does: no network, no Flask.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ivr.engine.phonebook import Customer, CustomerIndex, InvalidFile, Phonebook, PhonebookError, Problem
from ivr.engine.phonebook_loader import CUSTOMER_KEYS, read_customer, read_text
from ivr.engine.suggest import did_you_mean

CSV_REQUIRED = ("sen", "name", "tier", "maintenance_until")


def parse_customers_csv(text: str) -> tuple[tuple[Customer, ...], list[Problem]]:
    """Customers from CSV text with a header row (sen,name,tier,maintenance_until,admins; admins
    separated by spaces). Every bad row is reported with its line number as the problem's path."""
    reader = csv.DictReader(io.StringIO(text), restkey="")
    header = reader.fieldnames or []
    problems = [
        Problem("line 1", f"column {column!r} is missing") for column in CSV_REQUIRED if column not in header
    ]
    for column in header:
        if column not in CUSTOMER_KEYS:
            suggestion = did_you_mean(column, CUSTOMER_KEYS) or f" (known: {', '.join(CUSTOMER_KEYS)})"
            problems.append(Problem("line 1", f"unknown column {column!r}{suggestion}"))
    if problems:
        return (), problems
    customers: list[Customer] = []
    seen: dict[str, int] = {}
    for row in reader:
        # line_num counts physical lines (blank lines too); a quoted field spanning lines
        # reports the row's last line.
        line = reader.line_num
        where = f"line {line}"
        if "" in row:
            problems.append(Problem(where, f"has {len(header) + len(row[''])} cells, the header {len(header)}"))
            continue
        record = {key: value.strip() for key, value in row.items() if value is not None and value.strip()}
        record["admins"] = record.get("admins", "").split()
        customer, bad = read_customer(record)
        problems.extend(Problem(where, f"{p.path}: {p.message}") for p in bad)
        if customer is None:
            continue
        if customer.sen_digits in seen:
            problems.append(Problem(where, f"sen: {customer.sen} is already used on line {seen[customer.sen_digits]}"))
            continue
        seen[customer.sen_digits] = line
        customers.append(customer)
    return tuple(customers), problems


def read_customers_csv(path: Path) -> tuple[tuple[Customer, ...], list[Problem]]:
    try:
        # utf-8-sig: spreadsheets often start their CSV exports with a byte-order mark.
        text = read_text(path, "utf-8-sig")
    except PhonebookError as error:
        return (), error.problems
    return parse_customers_csv(text)


class CustomersFileError(InvalidFile):
    """A CSV file with bad rows, refused as a whole; its text, for /healthz, names the first."""

    def __init__(self, source: str, problems: list[Problem]):
        super().__init__(source, problems, f"{len(problems)} problem(s), first: {problems[0]}")


def load_customers_csv(path: Path) -> CustomerIndex:
    customers, problems = read_customers_csv(path)
    if problems:
        raise CustomersFileError(str(path), problems)
    return CustomerIndex(customers)




def check_source(phonebook: Phonebook) -> list[Problem]:
    """What `ivr check` adds for [entitlements]: every bad row of the CSV file, with its line number.
    A licensing service is not called by a check."""
    settings = phonebook.entitlements
    if settings is None or settings.file is None:
        return []
    return read_customers_csv(settings.file)[1]
