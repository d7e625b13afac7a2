//! A small validator of JSON instances against the schemas of Okta's OpenAPI documents
//! (OpenAPI 3.0 dialect: `$ref`, `allOf`/`oneOf`/`anyOf`, `nullable`, `enum`, `required`,
//! `format: date-time`). Stricter than Okta in one way on purpose: an object may not carry a
//! property its schema does not list, unless the schema allows additional properties, so the
//! sandbox cannot invent fields.

use std::sync::LazyLock;

use serde_json::Value;

pub struct Spec {
    root: Value,
}

fn load(file: &str) -> Spec {
    let path = format!("{}/../../../shared/okta/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    Spec {
        root: serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}")),
    }
}

pub static MANAGEMENT: LazyLock<Spec> = LazyLock::new(|| load("okta-management-openapi.yaml"));
pub static OAUTH: LazyLock<Spec> = LazyLock::new(|| load("okta-oauth-openapi.yaml"));

impl Spec {
    fn schema(&self, name: &str) -> &Value {
        let s = &self.root["components"]["schemas"][name];
        assert!(!s.is_null(), "no schema {name} in the spec");
        s
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => self.schema(r.rsplit('/').next().expect("a $ref has a name")),
            None => schema,
        }
    }

    /// The operations of this spec whose path starts with one of `prefixes`: (method in upper
    /// case, path template).
    pub fn operations(&self, prefixes: &[&str]) -> Vec<(String, String)> {
        let mut ops = Vec::new();
        for (path, item) in self.root["paths"].as_object().expect("paths").iter() {
            if !prefixes.iter().any(|p| path.starts_with(p)) {
                continue;
            }
            for method in ["get", "post", "put", "delete", "patch"] {
                if item.get(method).is_some() {
                    ops.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        ops
    }

    /// Whether the operation `method template` documents a response with `status`.
    pub fn documents(&self, method: &str, template: &str, status: u16) -> bool {
        let responses = &self.root["paths"][template][method.to_lowercase()]["responses"];
        !responses[status.to_string()].is_null() || !responses["default"].is_null()
    }

    /// What is wrong with a response to the operation `method template` by the spec's account
    /// of it: a status it does not document, a body its schema rejects (or one where it
    /// documents none), a header it documents but the response lacks.
    pub fn check_response(
        &self,
        method: &str,
        template: &str,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Vec<String> {
        let op = &self.root["paths"][template][method.to_lowercase()];
        if op.is_null() {
            return vec![format!("{method} {template}: no such operation in the spec")];
        }
        let mut response = &op["responses"][status.to_string()];
        if response.is_null() {
            response = &op["responses"]["default"];
        }
        if response.is_null() {
            return vec![format!("{method} {template}: status {status} is not documented")];
        }
        if let Some(r) = response.get("$ref").and_then(Value::as_str) {
            response = &self.root["components"]["responses"][r.rsplit('/').next().expect("a $ref has a name")];
        }
        let mut errors = Vec::new();
        for name in response
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|h| h.keys())
        {
            if !headers.contains_key(name.to_ascii_lowercase().as_str()) {
                errors.push(format!(
                    "{method} {template} {status}: header {name} is documented but missing"
                ));
            }
        }
        let schema = response
            .get("content")
            .and_then(Value::as_object)
            .and_then(|c| c.get("application/json").or_else(|| c.values().next()))
            .and_then(|c| c.get("schema"));
        match (schema, body.is_empty()) {
            (None, true) => {}
            (None, false) => errors.push(format!(
                "{method} {template} {status}: a body where the spec documents none"
            )),
            (Some(_), true) => errors.push(format!(
                "{method} {template} {status}: no body where the spec documents one"
            )),
            (Some(schema), false) => match serde_json::from_slice::<Value>(body) {
                Ok(instance) => {
                    let mut e = Vec::new();
                    self.validate(schema, &instance, "$", &mut e);
                    errors.extend(e.into_iter().map(|e| format!("{method} {template} {status}: {e}")));
                }
                Err(e) => errors.push(format!("{method} {template} {status}: body is not JSON: {e}")),
            },
        }
        errors
    }

    /// Adds to `errors` what makes `instance` not a valid `schema_name`.
    pub fn validate_named(&self, schema_name: &str, instance: &Value, errors: &mut Vec<String>) {
        self.validate(self.schema(schema_name), instance, "$", errors);
    }

    /// Asserts `instance` is a valid `schema_name`.
    pub fn assert_valid(&self, schema_name: &str, instance: &Value) {
        let mut errors = Vec::new();
        self.validate(self.schema(schema_name), instance, "$", &mut errors);
        assert!(
            errors.is_empty(),
            "{schema_name} does not match the spec:\n  {}\ninstance: {instance:#}",
            errors.join("\n  ")
        );
    }

    fn validate(&self, schema: &Value, inst: &Value, path: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            // Properties of every part together make up the allowed set.
            let mut merged = serde_json::Map::new();
            let mut additional = false;
            for part in all {
                let part = self.resolve(part);
                self.validate_except_unknown(part, inst, path, errors);
                if let Some(props) = part.get("properties").and_then(Value::as_object) {
                    merged.extend(props.clone());
                }
                additional |= part.get("additionalProperties").is_some_and(|a| a != false);
            }
            if let (Some(obj), false) = (inst.as_object(), additional) {
                for key in obj.keys().filter(|k| !merged.contains_key(*k)) {
                    errors.push(format!("{path}.{key}: not in the spec"));
                }
            }
            return;
        }
        for combinator in ["oneOf", "anyOf"] {
            if let Some(options) = schema.get(combinator).and_then(Value::as_array) {
                let ok = options.iter().any(|o| {
                    let mut e = Vec::new();
                    self.validate(o, inst, path, &mut e);
                    e.is_empty()
                });
                if !ok {
                    errors.push(format!("{path}: matches none of {combinator}"));
                }
                return;
            }
        }
        self.validate_except_unknown(schema, inst, path, errors);
        if let (Some(obj), Some(props)) = (inst.as_object(), schema.get("properties").and_then(Value::as_object)) {
            let additional = schema.get("additionalProperties").is_some_and(|a| a != false);
            let mut known = props.clone();
            // A discriminated schema also allows the properties of its subtypes.
            if let Some(mapping) = schema.pointer("/discriminator/mapping").and_then(Value::as_object) {
                for target in mapping.values().filter_map(Value::as_str) {
                    self.collect_properties(&serde_json::json!({ "$ref": target }), &mut known);
                }
            }
            if !additional {
                for key in obj.keys().filter(|k| !known.contains_key(*k)) {
                    errors.push(format!("{path}.{key}: not in the spec"));
                }
            }
        }
    }

    fn collect_properties(&self, schema: &Value, into: &mut serde_json::Map<String, Value>) {
        let schema = self.resolve(schema);
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            into.extend(props.clone());
        }
        for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            self.collect_properties(part, into);
        }
    }

    fn validate_except_unknown(&self, schema: &Value, inst: &Value, path: &str, errors: &mut Vec<String>) {
        if inst.is_null() {
            if schema.get("nullable") != Some(&Value::Bool(true)) && schema.get("type").is_some() {
                errors.push(format!("{path}: null but not nullable"));
            }
            return;
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array)
            && !values.contains(inst)
        {
            errors.push(format!("{path}: {inst} is not one of {values:?}"));
        }
        let ty = schema.get("type").and_then(Value::as_str);
        let ok = match ty {
            Some("string") => inst.is_string(),
            Some("integer") => inst.is_i64() || inst.is_u64(),
            Some("number") => inst.is_number(),
            Some("boolean") => inst.is_boolean(),
            Some("array") => inst.is_array(),
            Some("object") => inst.is_object(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{path}: expected {}, got {inst}", ty.unwrap_or("?")));
            return;
        }
        if schema.get("format").and_then(Value::as_str) == Some("date-time")
            && let Some(s) = inst.as_str()
            && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_err()
        {
            errors.push(format!("{path}: {s:?} is not a date-time"));
        }
        if let (Some(items), Some(arr)) = (schema.get("items"), inst.as_array()) {
            for (i, item) in arr.iter().enumerate() {
                self.validate(items, item, &format!("{path}[{i}]"), errors);
            }
        }
        if let Some(obj) = inst.as_object() {
            if let Some(req) = schema.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if !obj.contains_key(r) {
                        errors.push(format!("{path}.{r}: required but missing"));
                    }
                }
            }
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in obj {
                    if let Some(p) = props.get(k) {
                        self.validate(p, v, &format!("{path}.{k}"), errors);
                    }
                }
            }
        }
    }
}

#[test]
fn the_validator_rejects_what_it_should() {
    let user = serde_json::json!({ "id": "00u1", "status": "NOT_A_STATUS", "created": "yesterday", "invented": 1, "profile": { "login": "a@b.c" } });
    let mut errors = Vec::new();
    MANAGEMENT.validate(MANAGEMENT.schema("User"), &user, "$", &mut errors);
    let all = errors.join("\n");
    assert!(
        all.contains("$.status") && all.contains("$.created") && all.contains("$.invented"),
        "{all}"
    );
}
