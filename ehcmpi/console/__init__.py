"""Web console for hospital IT and data-quality staff (guideline §4.1.1 索引总览, 调用审计,
监测监管大屏).  Layer: an adapter over ``core`` like ``fhir`` (DESIGN.md)."""
