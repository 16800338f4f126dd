//! The one error type the SQL layer reports. Every variant maps to a SQLSTATE, a message
//! that names the offending value, and a HINT saying what to do instead.

use pgml_core::bindings::BindingError;
use pgml_core::data::DataError;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode as Code};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("project \"{0}\" does not exist")]
    UnknownProject(String),
    /// pgml.train's project_name NULL (true) or empty (false).
    #[error("project_name is {}", if *.0 { "NULL" } else { "empty" })]
    NoProjectName(bool),
    #[error("project \"{0}\" has no deployed model")]
    NoDeployment(String),
    /// Past pgml.max_train_memory, or an allocation the machine refused.
    #[error(transparent)]
    Memory(#[from] pgml_core::memory::MemoryError),
    /// The current role lacks `privilege` on the project (src/catalog/acl.rs).
    #[error("permission denied: role \"{role}\" may not {action} project \"{project}\"")]
    ProjectPrivilege {
        project: String,
        /// predict, train or owner: what the action needs.
        privilege: &'static str,
        action: &'static str,
        role: String,
        owner: String,
    },
    /// An argument-less retrain would read a relation another role chose.
    #[error("project \"{project}\" was last trained by role \"{trained_by}\", so a retrain without relation_name is refused")]
    RetrainOtherRole { project: String, trained_by: String },
    /// pgml.train with a task names a project that exists and belongs to another role.
    #[error("project \"{project}\" already exists and belongs to role \"{owner}\"")]
    ProjectTaken { project: String, owner: String },
    #[error("permission denied to create in schema \"{0}\"")]
    SchemaPrivilege(String),
    #[error("schema \"{0}\" does not exist")]
    UnknownSchema(String),
    #[error("table {table} exists and is owned by role \"{owner}\", not by the current role")]
    NotTableOwner { table: String, owner: String },
    #[error("role \"{0}\" does not exist")]
    UnknownRole(String),
    #[error("permission denied: the current role is not a member of role \"{0}\"")]
    NotMemberOf(String),
    #[error("unknown project privilege \"{0}\"")]
    UnknownPrivilege(String),
    #[error("trigger function pgml.deployments_changed() fires only on pgml's catalog tables, not on {0}")]
    ForeignTrigger(String),
    /// This database's pgml SQL is at a release the library was not built to serve
    /// (src/catalog/version.rs).
    #[error("this database's pgml SQL is at version {installed}, which pgml library {library} does not serve")]
    SqlVersion {
        installed: String,
        library: &'static str,
        /// Whether ALTER EXTENSION pgml UPDATE has a path from `installed` to `library`.
        updatable: bool,
    },
    #[error("relation \"{0}\" does not exist")]
    UnknownRelation(String),
    #[error("\"{relation}\" is a {kind}, not a table, view or materialized view")]
    WrongRelationKind { relation: String, kind: String },
    #[error("column \"{column}\" does not exist in {relation}")]
    UnknownColumn {
        relation: String,
        column: String,
        available: Vec<String>,
    },
    #[error("column \"{column}\" has type {type_name}, which pgml cannot use as a {role}")]
    UnsupportedColumnType {
        column: String,
        type_name: String,
        role: &'static str,
    },
    #[error("array column \"{column}\" has rows of {shortest} to {longest} elements")]
    ArrayLength {
        column: String,
        shortest: usize,
        longest: usize,
    },
    #[error("column \"{column}\" of the row is {got}, but the model was trained on {expected}")]
    RowColumnType {
        column: String,
        expected: String,
        got: String,
    },
    #[error("{0} has no feature columns besides the label")]
    NoFeatures(String),
    #[error("{relation}: {source}")]
    Data { relation: String, source: DataError },
    #[error("project \"{0}\" has not been trained yet, so relation_name is required")]
    RelationRequired(String),
    #[error("y_column_name is required to train on {0}")]
    LabelRequired(String),
    #[error("a {0} project takes no y_column_name")]
    LabelNotAllowed(&'static str),
    #[error("project \"{0}\" does not exist yet, so task is required")]
    TaskRequired(String),
    #[error("unknown task \"{0}\"")]
    UnknownTask(String),
    #[error("project \"{project}\" is a {existing} project, not {given}")]
    TaskConflict {
        project: String,
        existing: String,
        given: String,
    },
    #[error("unknown algorithm \"{0}\"")]
    UnknownAlgorithm(String),
    #[error("unknown test_sampling \"{0}\"")]
    UnknownSampling(String),
    #[error("unknown deployment strategy \"{0}\"")]
    UnknownStrategy(String),
    #[error("hyperparams must be a JSON object, got {0}")]
    HyperparamsNotObject(String),
    #[error("{0}")]
    Binding(#[from] BindingError),
    #[error("project \"{project}\" expects {expected} features, got {got}")]
    WrongFeatureCount {
        project: String,
        expected: usize,
        got: usize,
    },
    #[error("{feature} is NULL")]
    NullFeature { feature: String },
    #[error("element {position} of the array is NULL")]
    VectorNull { position: usize },
    #[error("arrays of different lengths: {left} and {right} elements")]
    VectorDimensions { left: usize, right: usize },
    #[error("the array has more than one dimension")]
    VectorShape,
    #[error("expected an array of {expected}, got one of element type OID {oid}")]
    VectorType { expected: &'static str, oid: u32 },
    #[error("division by zero")]
    DivisionByZero,
    #[error(
        "{algorithm} cannot train on missing values: feature \"{column}\" has {count} NULL value(s) in the training split"
    )]
    MissingValues {
        algorithm: &'static str,
        column: String,
        count: usize,
    },
    #[error("{algorithm} cannot be interrupted while it trains, and {rows} training rows are more than pgml.max_uninterruptible_rows ({max})")]
    Uninterruptible {
        algorithm: &'static str,
        rows: usize,
        max: usize,
    },
    #[error("project \"{0}\" is not a classification project: it has no class probabilities")]
    NotClassification(String),
    #[error("project \"{0}\" is not a decomposition project")]
    NotDecomposition(String),
    #[error("model {0} does not exist")]
    UnknownModel(i64),
    #[error("project \"{project}\" has no model to deploy with strategy {strategy}")]
    NothingToDeploy { project: String, strategy: String },
    #[error("pgml.predict needs a row or an array of numbers, got type {0}")]
    NotARow(String),
    #[error("{function} takes one row: a one-dimensional array, got {ndim} dimensions")]
    NotOneRow { function: &'static str, ndim: usize },
    #[error("the row has no column \"{column}\" and has {count} columns for {expected} features")]
    RowMismatch {
        column: String,
        count: usize,
        expected: usize,
    },
    #[error("pgml.train_joint trains regression projects, not {0}")]
    JointNotRegression(String),
    #[error("{0} cannot train a joint (multi-target) regression")]
    JointUnsupported(&'static str),
    #[error("project \"{project}\" predicts {existing} target(s) per row, not {given}")]
    TargetsConflict {
        project: String,
        existing: usize,
        given: usize,
    },
    #[error("project \"{project}\" predicts {targets} targets per row, not one value")]
    JointModel { project: String, targets: usize },
    #[error("project \"{0}\" is not a regression project")]
    NotRegression(String),
    #[error("unknown dataset \"{name}\"")]
    UnknownDataset {
        name: String,
        valid: Vec<&'static str>,
    },
    #[error("{0}")]
    Search(#[from] pgml_core::search::SearchError),
    #[error("{0}")]
    Preprocess(#[from] pgml_core::data::preprocess::PreprocessError),
    #[error("{0}")]
    Spi(String),
}

impl From<pgml_core::search::SearchError2> for Error {
    fn from(e: pgml_core::search::SearchError2) -> Self {
        match e {
            pgml_core::search::SearchError2::Search(s) => Error::Search(s),
            pgml_core::search::SearchError2::Binding(b) => Error::Binding(b),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<pgrx::spi::SpiError> for Error {
    fn from(e: pgrx::spi::SpiError) -> Self {
        Error::Spi(format!("internal query failed: {e}"))
    }
}

/// What to do about SQL at `installed` under library `library`: update where a path exists,
/// else install the library that matches.
fn sql_version_hint(installed: &str, library: &str, updatable: bool) -> String {
    // major.minor.patch as numbers; None (anything else) orders first.
    let parse = |v: &str| -> Option<(u32, u32, u32)> {
        let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
        let r = (it.next()??, it.next()??, it.next()??);
        it.next().is_none().then_some(r)
    };
    if updatable {
        format!(
            "Run ALTER EXTENSION pgml UPDATE; to bring the SQL to {library} (it keeps every project and model); pgml.versions() shows both versions."
        )
    } else if parse(installed) > parse(library) {
        format!(
            "The SQL was updated by a newer release: install pgml's library {installed} or later (package postgresql-15-pgml) and restart the server; every project and model is kept."
        )
    } else {
        format!(
            "Version {installed} has no update path to {library}: it is a development build or a release this library no longer serves (README.md, section Upgrading). Reinstall the library built for {installed} to reach its models, or create the extension in a new database to train under {library}."
        )
    }
}

fn join(v: &[impl AsRef<str>]) -> String {
    v.iter().map(|s| s.as_ref()).collect::<Vec<_>>().join(", ")
}

impl Error {
    pub fn sqlstate(&self) -> Code {
        use Error::*;
        match self {
            UnknownProject(_)
            | NoDeployment(_)
            | UnknownModel(_)
            | NothingToDeploy { .. }
            | UnknownDataset { .. } => Code::ERRCODE_UNDEFINED_OBJECT,
            UnknownRelation(_) => Code::ERRCODE_UNDEFINED_TABLE,
            NotOneRow { .. } => Code::ERRCODE_ARRAY_ELEMENT_ERROR,
            UnknownSchema(_) => Code::ERRCODE_INVALID_SCHEMA_NAME,
            WrongRelationKind { .. } => Code::ERRCODE_WRONG_OBJECT_TYPE,
            UnknownColumn { .. } => Code::ERRCODE_UNDEFINED_COLUMN,
            UnsupportedColumnType { .. }
            | NotARow(_)
            | RowColumnType { .. }
            | VectorType { .. } => Code::ERRCODE_DATATYPE_MISMATCH,
            Data {
                source: DataError::NullLabel { .. },
                ..
            }
            | NullFeature { .. }
            | NoProjectName(true)
            | VectorNull { .. } => Code::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            VectorDimensions { .. } => Code::ERRCODE_DATA_EXCEPTION,
            VectorShape => Code::ERRCODE_ARRAY_ELEMENT_ERROR,
            DivisionByZero => Code::ERRCODE_DIVISION_BY_ZERO,
            Preprocess(pgml_core::data::preprocess::PreprocessError::NullNotAllowed { .. }) => {
                Code::ERRCODE_NULL_VALUE_NOT_ALLOWED
            }
            Preprocess(pgml_core::data::preprocess::PreprocessError::UnknownColumn { .. }) => {
                Code::ERRCODE_UNDEFINED_COLUMN
            }
            Binding(BindingError::MissingValues { .. }) | MissingValues { .. } => {
                Code::ERRCODE_NULL_VALUE_NOT_ALLOWED
            }
            Memory(_) => Code::ERRCODE_OUT_OF_MEMORY,
            Uninterruptible { .. } => Code::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            // XGBoost's and LightGBM's C APIs turn std::bad_alloc into an error message.
            Binding(BindingError::Library { message, .. }) if message.contains("bad_alloc") => {
                Code::ERRCODE_OUT_OF_MEMORY
            }
            Binding(BindingError::Library { .. }) => Code::ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
            Binding(BindingError::Corrupt { .. }) => Code::ERRCODE_DATA_CORRUPTED,
            Binding(BindingError::Interrupted) => Code::ERRCODE_QUERY_CANCELED,
            Binding(BindingError::UnsupportedTask { .. })
            | JointNotRegression(_)
            | JointUnsupported(_) => Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            JointModel { .. } | NotRegression(_) => Code::ERRCODE_WRONG_OBJECT_TYPE,
            Spi(_) => Code::ERRCODE_INTERNAL_ERROR,
            ProjectPrivilege { .. }
            | RetrainOtherRole { .. }
            | SchemaPrivilege(_)
            | NotTableOwner { .. }
            | ForeignTrigger(_)
            | NotMemberOf(_) => Code::ERRCODE_INSUFFICIENT_PRIVILEGE,
            SqlVersion { .. } => Code::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            ProjectTaken { .. } => Code::ERRCODE_DUPLICATE_OBJECT,
            UnknownRole(_) => Code::ERRCODE_UNDEFINED_OBJECT,
            _ => Code::ERRCODE_INVALID_PARAMETER_VALUE,
        }
    }

    pub fn hint(&self) -> String {
        use Error::*;
        match self {
            ProjectPrivilege { project, privilege: "owner", owner, .. } => format!(
                "Only the project's owner (role \"{owner}\"), its members and superusers may; the owner can hand the project over with SELECT pgml.alter_project_owner('{project}', 'new_owner'); (README.md, section Privileges)."
            ),
            ProjectPrivilege { project, privilege, role, owner, .. } => format!(
                "The project's owner (role \"{owner}\") can grant it: SELECT pgml.grant_project('{project}', '{privilege}', '{role}'); (README.md, section Privileges)."
            ),
            RetrainOtherRole { project, trained_by } => format!(
                "Name the relation to train on, e.g. SELECT * FROM pgml.train('{project}', relation_name => 'my_table'); only role \"{trained_by}\" itself may retrain on the relation it chose."
            ),
            Memory(pgml_core::memory::MemoryError::OverLimit { need, .. }) => format!(
                "Train on fewer rows or columns (a view with a sample: TABLESAMPLE, or WHERE random() < 0.1), or have a superuser raise pgml.max_train_memory to at least {} MB (postgresql.conf, or ALTER SYSTEM and SELECT pg_reload_conf()).",
                need.div_ceil(pgml_core::memory::MB)
            ),
            Memory(pgml_core::memory::MemoryError::Unavailable { .. }) => "pgml.max_train_memory allows it, but the server's memory (or its ulimit -v, or vm.overcommit_memory = 2) does not now: train on fewer rows or columns, or lower pgml.max_train_memory so that such requests are refused up front.".into(),
            ProjectTaken { project, owner } => format!("Choose another project name, or, to train into role \"{owner}\"'s project knowingly (the owner then reads what is trained from your rows), leave task NULL: SELECT * FROM pgml.train('{project}', relation_name => ...)."),
            SchemaPrivilege(_) => "Pass schema => 'a_schema' where you may create tables (the default is pgml for the extension's owner, else the first schema on your search_path where you may create).".into(),
            NotTableOwner { .. } => "pgml.load_dataset refills only a table the current role owns: drop or rename that table, or pass schema => 'another_schema'.".into(),
            UnknownRole(_) => "Name an existing role, or PUBLIC.".into(),
            UnknownSchema(_) => "Pass schema => the name of an existing schema, exactly as it is spelled (no quotes).".into(),
            NotMemberOf(r) => format!("As with ALTER ... OWNER TO, a project goes to a role you are a member of: a superuser can GRANT \"{r}\" TO you first."),
            UnknownPrivilege(_) => "Valid project privileges: predict, train (and owner, for pgml.has_project_privilege).".into(),
            SqlVersion { installed, library, updatable } => sql_version_hint(installed, library, *updatable),
            ForeignTrigger(_) => "pgml attaches it to its own tables when the extension is created; drop this trigger.".into(),
            UnknownProject(p) => format!(
                "Train it first, e.g. SELECT * FROM pgml.train('{p}', 'regression', 'my_table', 'my_label'); projects are listed in pgml.projects."
            ),
            NoProjectName(_) => "Name the project, e.g. SELECT * FROM pgml.train('my_project', 'regression', 'my_table', 'my_label'); the name is how pgml.predict finds its model.".into(),
            NoDeployment(p) => format!("Deploy a model: SELECT * FROM pgml.deploy('{p}', 'most_recent');"),
            UnknownRelation(_) => "Pass a table, view or materialized view on your search_path, optionally schema-qualified ('myschema.mytable'); mixed-case names may be given exactly or double-quoted, and a name with a dot in it double-quoted ('\"my.table\"').".into(),
            WrongRelationKind { .. } => "Train on a table, a view or a materialized view.".into(),
            UnknownColumn { available, .. } => format!("Columns of the relation: {}.", join(available)),
            UnsupportedColumnType { role: "label", .. } => {
                "Labels are numeric or boolean, or text / enum for classification (one label); cast it in a view, e.g. CREATE VIEW v AS SELECT ..., my_label::int AS label FROM t.".into()
            }
            UnsupportedColumnType { .. } => "Features may be numbers, boolean, text / varchar / char / enum (categories), date / timestamp / timestamptz, or arrays of numbers: cast the column in a view, or leave it out of the view you train on.".into(),
            NoFeatures(_) => "Train on a relation with at least one numeric column besides the label.".into(),
            Data { source, .. } => match source {
                DataError::Empty => "Train on a relation that has rows.".into(),
                DataError::NullLabel { .. } => "Filter them out in a view: WHERE my_label IS NOT NULL.".into(),
                DataError::TooFewRows { .. } => "Training needs at least one row for training and one for testing: add rows or lower test_size.".into(),
                DataError::BadTestSize(_) => "Use a fraction such as 0.25, or a whole number of test rows smaller than the row count.".into(),
                DataError::StratifyNeedsClasses => "test_sampling => 'stratified' splits by the classes of a classification label; use 'random' for regression.".into(),
                DataError::SingleClass(_) => "Classification needs at least two distinct label values; use task => 'regression' or add rows of other classes.".into(),
                DataError::NonFiniteLabel(_) => "Filter out NaN and Infinity labels in a view.".into(),
            },
            RelationRequired(_) => "Pass relation_name => 'my_table' and y_column_name => 'my_label'; later trains of the project may leave both out to reuse them.".into(),
            LabelRequired(_) => "Pass y_column_name => 'my_label', the column to predict.".into(),
            LabelNotAllowed(_) => "Clustering and decomposition learn from every column: leave y_column_name NULL, and train on a view without the columns to ignore.".into(),
            TaskRequired(p) => format!("Pass task => 'regression' or task => 'classification' on the first pgml.train of project '{p}'."),
            UnknownTask(_) => "Valid tasks: regression, classification, clustering, decomposition.".into(),
            TaskConflict { .. } => "Leave task NULL to keep the project's task, or train under a new project name.".into(),
            UnknownAlgorithm(_) => format!("Valid algorithms: {}.", join(&pgml_core::bindings::names())),
            UnknownSampling(_) => "Valid test_sampling values: random, first, last, stratified.".into(),
            UnknownStrategy(_) => "Valid strategies: best_score, most_recent, rollback.".into(),
            HyperparamsNotObject(_) => "Pass an object, e.g. hyperparams => '{\"n_estimators\": 50}'.".into(),
            Binding(b) => match b {
                BindingError::UnknownHyperparam { valid, .. } => format!("Valid hyperparameters: {}.", join(valid)),
                BindingError::InvalidHyperparam { .. } => "See the library's documentation of this parameter.".into(),
                BindingError::UnsafeHyperparam { .. } => "Pass the value the library documents, e.g. \"boosting\": \"gbdt\"; each parameter goes in a key of its own, and file names are never accepted.".into(),
                BindingError::TooManyThreads { max, .. } => format!("Ask for 1 to {max} threads, or leave the parameter out (a training uses pgml.train_threads, at most pgml.max_train_threads = {max}, which only a superuser can raise, in postgresql.conf)."),
                BindingError::RejectedHyperparam { name, .. } => format!("Pass a value the library accepts for \"{name}\" (its message says which), or leave it out for the default."),
                BindingError::MissingValues { .. } => "Filter or fill the NULLs in a view (e.g. COALESCE(col, 0)), or use algorithm => 'xgboost', which treats NULL as missing.".into(),
                BindingError::Library { .. } => "The library rejected the data or the parameters; its message says why.".into(),
                BindingError::Corrupt { .. } => "The stored model bytes in pgml.files do not load: retrain, or deploy another model with pgml.deploy.".into(),
                BindingError::Interrupted => "Training was cancelled.".into(),
                BindingError::UnsupportedTask { task, .. } => format!(
                    "Algorithms for {task}: {}.",
                    join(&pgml_core::bindings::names_for(pgml_core::bindings::Task::parse(task).unwrap_or(pgml_core::bindings::Task::Regression)))
                ),
            },
            Uninterruptible { max, .. } => format!("Its library runs the whole fit in one call that neither query cancel nor statement_timeout can stop. Train on at most {max} rows (a view with TABLESAMPLE, or WHERE random() < 0.1), or have a superuser raise pgml.max_uninterruptible_rows (0: no limit) for a fit that may then run deaf to cancel."),
            MissingValues { column, .. } => {
                let raw = column.split(['[', '=']).next().unwrap_or(column);
                format!("Give the column a fill rule, e.g. preprocess => '{}', or use xgboost or lightgbm, which take NULL as a missing value.", pgml_core::data::preprocess::impute_hint(raw))
            }
            WrongFeatureCount { expected, .. } => format!("Pass exactly {expected} values, in the order of the training columns (see pgml.snapshots.columns)."),
            NullFeature { .. } => "Replace NULLs before predicting, e.g. COALESCE(col, 0); for xgboost models 'NaN'::real marks a missing value.".into(),
            NotClassification(_) => "Use pgml.predict for regression and clustering projects.".into(),
            VectorNull { .. } => "Replace NULL elements first, e.g. array_replace(v, NULL, 0).".into(),
            VectorDimensions { .. } => "Both arrays need the same number of elements.".into(),
            VectorType { .. } => "The function's SQL declaration does not match the library: this database's pgml SQL is from another release than the installed library. Run ALTER EXTENSION pgml UPDATE (it keeps every project and model).".into(),
            VectorShape => "Pass a one-dimensional array; a row of a matrix is m[i:i][:] flattened, e.g. ARRAY(SELECT unnest(m[i:i][:])).".into(),
            DivisionByZero => "Divide by a non-zero value; pgml.normalize_l2 and friends leave zero vectors as they are.".into(),
            UnknownModel(_) => "Model ids are listed in pgml.models.".into(),
            NotDecomposition(_) => "pgml.decompose needs a project trained with task => 'decomposition' (algorithm => 'pca').".into(),
            NothingToDeploy { .. } => "Train a model first; rollback needs an earlier deployment.".into(),
            NotOneRow { .. } => "pgml.predict_batch(project, features) predicts every row of a 2-D array (one row per first index), or pass one row as a one-dimensional array.".into(),
            NotARow(_) => "Pass a table row, e.g. SELECT pgml.predict('p', t) FROM t t, or an array such as ARRAY[1.0, 2.0].".into(),
            RowMismatch { .. } => "Name the row's columns like the training columns, or pass exactly as many columns, in training order.".into(),
            JointNotRegression(_) => "Train classification projects with pgml.train and one y_column_name.".into(),
            JointUnsupported(_) => format!("Algorithms for pgml.train_joint: {}.", join(&pgml_core::bindings::joint_names())),
            TargetsConflict { .. } => "Every model of a project predicts the same targets: train under a new project name.".into(),
            JointModel { project, .. } => format!("Use pgml.predict_joint('{project}', ARRAY[...]), which returns every target as real[] in the order of y_column_name."),
            NotRegression(_) => "pgml.predict_joint serves regression projects (trained with pgml.train_joint); use pgml.predict or pgml.predict_proba.".into(),
            UnknownDataset { valid, .. } => format!("Valid datasets: {}.", join(valid)),
            Preprocess(p) => match p {
                pgml_core::data::preprocess::PreprocessError::UnknownColumn { available, .. } => format!("Feature columns: {}.", join(available)),
                pgml_core::data::preprocess::PreprocessError::NullNotAllowed { column, .. } => format!("Filter the NULLs out, or give the column a fill rule: preprocess => '{}'.", pgml_core::data::preprocess::impute_hint(column)),
                _ => "preprocess => '{\"my_column\": {\"impute\": \"mean\", \"scale\": \"standard\", \"encode\": \"one_hot\"}}': impute mean, median, mode, min, max, zero or error; scale preserve, standard, min_max, max_abs or robust; encode (text columns) native, ordinal, one_hot or target.".into(),
            },
            RowColumnType { .. } => "Pass a row whose columns have the training columns' types (see pgml.snapshots.columns), casting in the query if needed.".into(),
            ArrayLength { .. } => "Every row of an array feature needs the same number of elements (a NULL array is missing values): pad or trim the arrays in a view.".into(),
            Search(_) => "search => 'grid' | 'random'; search_params => '{\"max_depth\": [2, 4], \"eta\": {\"log_uniform\": [0.01, 0.3]}}' (lists for grid; lists, uniform, log_uniform or int for random); search_args => '{\"cv\": 3, \"n_iter\": 10, \"seed\": 0}'.".into(),
            Spi(_) => "This is a bug in pgml; please report it with the statement that raised it.".into(),
        }
    }

    /// Raises the error as a Postgres ERROR. Never returns.
    pub fn report(self) -> ! {
        if matches!(self, Error::Binding(BindingError::Interrupted)) {
            // A library's interrupt point saw the server's cancel or terminate flag
            // (pgml_core::interrupt): the server's own error (57014 with its message, or
            // FATAL) is raised here, on the main thread. Ours below only if it has none.
            pgrx::pg_sys::check_for_interrupts!();
        }
        ErrorReport::new(self.sqlstate(), self.to_string(), "pgml")
            .set_hint(self.hint())
            .report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

/// `.or_report()` at the SQL boundary: the value, or an ERROR.
pub trait OrReport<T> {
    fn or_report(self) -> T;
}

impl<T, E: Into<Error>> OrReport<T> for std::result::Result<T, E> {
    fn or_report(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => e.into().report(),
        }
    }
}
