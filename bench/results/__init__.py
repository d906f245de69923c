"""The run directory's one owner: its layout, the records in it, atomic writes, schemas, migrations,
loading."""
