"""`surge stack up` creates what template.yaml declares, and doing it again changes nothing."""

from __future__ import annotations

from infra.stack.stack import provision
from infra.template import load_template
from tests.conftest import TEMPLATE


def test_topics_and_tables_come_from_the_template_idempotently(endpoints, ddb, kafka_admin):
    template = load_template(TEMPLATE)
    first = provision(endpoints, TEMPLATE)
    second = provision(endpoints, TEMPLATE)
    assert second.topics_created == [] and second.tables_created == []
    assert set(first.topics_created) <= {t.name for t in template.topics}

    described = {
        t["name"]: len(t["partitions"])
        for t in kafka_admin.describe_topics([t.name for t in template.topics])
    }
    assert described == {t.name: t.partitions for t in template.topics}
    assert described["coupon.issue-requested"] >= 4

    for table in template.tables.values():
        live = ddb.describe_table(TableName=table.table_name)["Table"]
        assert live["TableStatus"] == "ACTIVE"
        wanted = table.create_table_kwargs()
        assert live["KeySchema"] == wanted["KeySchema"]
        assert sorted(i["IndexName"] for i in live.get("GlobalSecondaryIndexes", [])) == sorted(
            i["IndexName"] for i in wanted.get("GlobalSecondaryIndexes", [])
        )
