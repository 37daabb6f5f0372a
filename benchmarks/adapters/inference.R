# Usage: Rscript inference.R CSV FORMULA FACTOR_COLS ENGINE TASK REPEATS BUDGET_S
# Times R's inference after an lme4 REML fit (lme4::lmer, not timed as part of the task), for
# benchmarks/inference.py. ENGINE and TASK:
#   lmerTest satterthwaite        as_lmerModLmerTest(m) (what lmerTest::lmer does after lme4's fit: numerical
#                                 Hessian and Jacobian, numDeriv) + summary(mt, ddf = "Satterthwaite")
#   lmerTest anova-satterthwaite  as_lmerModLmerTest(m) + anova(mt, ddf = "Satterthwaite") (type III)
#   lmerTest kenward-roger        summary(mt, ddf = "Kenward-Roger") (lmerTest calls pbkrtest::vcovAdj); mt
#                                 converted once beforehand, its time reported as convert_s
#   lmerTest anova-kenward-roger  anova(mt, ddf = "Kenward-Roger"), mt as above
#   pbkrtest kenward-roger        V <- pbkrtest::vcovAdj(m), then pbkrtest::Lb_ddf per coefficient (the t table)
#   pbkrtest anova-kenward-roger  pbkrtest::KRmodcomp(m, L) per term, L the term's rows of the identity (type III
#                                 for treatment-coded main effects, the models used here)
#   lme4 profile                  confint(m, method = "profile")
# The first call in this process is "first_s"; then up to REPEATS more calls, stopping once BUDGET_S seconds are
# spent (at least one), give warm_s (their median). Each call on the same fit object recomputes everything (R keeps
# no cache between calls). Prints one line: "@@BENCH_RESULT@@ {json}" with fit_s, convert_s, first_s, warm_s,
# n_warm and the numbers to compare (df, se, den_df, F, lower, upper) or error, and the calls' warnings.
args <- commandArgs(trailingOnly = TRUE)
mark <- "@@BENCH_RESULT@@ "
json_str <- function(x) paste0('"', gsub('([\\\\"])', "\\\\\\1", gsub("[\r\n\t]", " ", x)), '"')
json_num <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) "null" else sprintf("%.17g", x)
json_named <- function(x) {
  if (is.null(x)) return("null")
  paste0("{", paste(sprintf("%s: %s", sapply(names(x), json_str), sapply(unname(x), json_num)), collapse = ", "), "}")
}
emit <- function(fields) {
  fields <- fields[!vapply(fields, is.null, logical(1))]
  cat(mark, "{", paste(sprintf('"%s": %s', names(fields), unlist(fields)), collapse = ", "), "}\n", sep = "")
  quit(save = "no")
}
if (length(args) < 7) stop("usage: Rscript inference.R CSV FORMULA FACTOR_COLS ENGINE TASK REPEATS BUDGET_S")
csv <- args[1]; form <- as.formula(args[2]); engine <- args[4]; task <- args[5]
repeats <- as.integer(args[6]); budget <- as.numeric(args[7])
pkgs <- c(lme4 = "lme4", lmerTest = "lmerTest", pbkrtest = "pbkrtest")
for (p in unique(c("lme4", pkgs[[engine]]))) {
  if (!requireNamespace(p, quietly = TRUE)) emit(list(skipped = json_str(paste("R package", p, "not installed"))))
}
suppressPackageStartupMessages(library(lme4))
d <- read.csv(csv)
factors <- if (nzchar(args[3])) strsplit(args[3], ",")[[1]] else character()
for (f in factors) d[[f]] <- factor(d[[f]])
caught <- character()  # warnings of the timed calls (lmerTest's fallback from Kenward-Roger to Satterthwaite)
quiet <- function(expr) withCallingHandlers(expr, warning = function(w) {
  caught <<- unique(c(caught, substr(conditionMessage(w), 1, 200)))
  invokeRestart("muffleWarning")
}, message = function(m) invokeRestart("muffleMessage"))
now <- function() proc.time()[["elapsed"]]

t0 <- now()
m <- quiet(lme4::lmer(form, data = d, REML = TRUE))
fit_s <- now() - t0
caught <- character()

convert_s <- NULL
mt <- NULL
if (engine == "lmerTest" && task %in% c("kenward-roger", "anova-kenward-roger")) {
  t0 <- now()
  mt <- quiet(lmerTest::as_lmerModLmerTest(m))
  convert_s <- now() - t0
  caught <- character()
}
last_convert <- NULL
convert <- function() {
  t0 <- now()
  out <- quiet(lmerTest::as_lmerModLmerTest(m))
  last_convert <<- now() - t0
  out
}

coef_values <- function(cm) list(df = cm[, "df"], se = cm[, "Std. Error"])
anova_values <- function(a) list(den_df = setNames(a[["DenDF"]], rownames(a)), F = setNames(a[["F value"]], rownames(a)))
terms_L <- function(model) {
  X <- getME(model, "X")
  assign <- attr(X, "assign")
  labels <- attr(terms(model), "term.labels")
  lapply(setNames(seq_along(labels), labels), function(t) diag(ncol(X))[assign == t, , drop = FALSE])
}

call <- switch(paste(engine, task),
  "lmerTest satterthwaite" = function() coef_values(coef(summary(convert(), ddf = "Satterthwaite"))),
  "lmerTest anova-satterthwaite" = function() anova_values(anova(convert(), ddf = "Satterthwaite")),
  "lmerTest kenward-roger" = function() coef_values(coef(quiet(summary(mt, ddf = "Kenward-Roger")))),
  "lmerTest anova-kenward-roger" = function() anova_values(quiet(anova(mt, ddf = "Kenward-Roger"))),
  "pbkrtest kenward-roger" = function() {
    V <- pbkrtest::vcovAdj(m)
    V0 <- as.matrix(vcov(m))
    p <- ncol(V0)
    df <- sapply(seq_len(p), function(j) pbkrtest::Lb_ddf(diag(p)[j, , drop = FALSE], V0, V))
    list(df = setNames(df, names(fixef(m))), se = setNames(sqrt(diag(as.matrix(V))), names(fixef(m))))
  },
  "pbkrtest anova-kenward-roger" = function() {
    tests <- lapply(terms_L(m), function(L) pbkrtest::KRmodcomp(m, L)$test["Ftest", ])
    list(den_df = sapply(tests, function(x) x[["ddf"]]), F = sapply(tests, function(x) x[["stat"]]))
  },
  "lme4 profile" = function() {
    ci <- quiet(confint(m, method = "profile"))
    list(lower = ci[, 1], upper = ci[, 2])
  },
  emit(list(skipped = json_str(paste("no task", task, "for engine", engine))))
)

run_once <- function() {
  t0 <- now()
  out <- tryCatch(call(), error = function(e) structure(list(msg = conditionMessage(e)), class = "failed"))
  list(s = now() - t0, out = out)
}
first <- run_once()
if (inherits(first$out, "failed")) {
  emit(list(fit_s = json_num(fit_s), convert_s = json_num(convert_s), failed_after_s = json_num(first$s),
            error = json_str(substr(first$out$msg, 1, 500)),
            warnings = if (length(caught)) json_str(paste(caught, collapse = " | "))))
}
first_convert <- last_convert
warm <- numeric(); warm_convert <- numeric()
start <- now()
while (length(warm) < repeats && (length(warm) == 0 || now() - start < budget)) {
  r <- run_once()
  warm <- c(warm, r$s)
  if (!is.null(last_convert)) warm_convert <- c(warm_convert, last_convert)
}
vals <- first$out
emit(list(
  fit_s = json_num(fit_s),
  convert_s = json_num(if (length(warm_convert)) median(warm_convert) else convert_s),
  first_s = json_num(first$s),
  first_convert_s = json_num(first_convert),
  warm_s = json_num(median(warm)),
  n_warm = json_num(length(warm)),
  df = if (!is.null(vals$df)) json_named(vals$df),
  se = if (!is.null(vals$se)) json_named(vals$se),
  den_df = if (!is.null(vals$den_df)) json_named(vals$den_df),
  F = if (!is.null(vals$F)) json_named(vals$F),
  lower = if (!is.null(vals$lower)) json_named(vals$lower),
  upper = if (!is.null(vals$upper)) json_named(vals$upper),
  warnings = if (length(caught)) json_str(paste(caught, collapse = " | "))
))
