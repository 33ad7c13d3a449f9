"""Record matching (guideline §4.1.1 索引合并 基于规则的自动合并, §4.1.2 模糊查询).

Fellegi–Sunter matching with the rules as data: a rule file names the blocking keys, one
comparator per field with its agreement levels and their m/u probabilities, and the
thresholds for MATCH (auto-link), POSSIBLE_MATCH (review) and NO_MATCH.  Comparators are
small pure functions over precomputed features of each record.
"""
