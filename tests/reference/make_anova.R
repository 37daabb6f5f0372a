# lmerTest F tests (type III and type I, Satterthwaite and Kenward-Roger) for models with factor-by-factor and
# factor-by-covariate interactions, which the shared inf_*.json files lack (their models have at most one factor).
# Run from the repository root: Rscript tests/reference/make_anova.R  (writes tests/reference/extra_anova.json)
suppressMessages({library(lmerTest); library(jsonlite)})
cols <- fromJSON("mixjax/datasets/data/columns.json", simplifyVector = FALSE)
read <- function(name) {
  d <- read.csv(sprintf("mixjax/datasets/data/%s.csv", name))
  info <- cols[[name]]
  for (f in unlist(info$factors)) {
    d[[f]] <- factor(as.character(d[[f]]), levels = unlist(info$levels[[f]]),
                     ordered = f %in% unlist(info$ordered))
  }
  d
}
options(pbkrtest.limit = 10000, lmerTest.limit = 10000)
exam <- read("Exam")
models <- list(
  exam_sex_vr = list(formula = "normexam ~ sex * vr + standLRT + (1 | school)", data = exam),
  exam_vr_slope = list(formula = "normexam ~ vr * standLRT + sex + (standLRT | school)", data = exam)
)
tab <- function(a) lapply(setNames(rownames(a), rownames(a)), function(r) as.list(a[r, ]))
out <- list(engine = sprintf("R %s, lme4 %s, lmerTest %s, pbkrtest %s", getRversion(), packageVersion("lme4"),
                             packageVersion("lmerTest"), packageVersion("pbkrtest")))
for (id in names(models)) {
  spec <- models[[id]]
  m <- lmer(as.formula(spec$formula), data = spec$data)
  res <- list(formula = spec$formula, fixef = as.list(fixef(m)), logLik = as.numeric(logLik(m)))
  for (type in c(3, 1)) for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    key <- sprintf("type%d_%s", type, tolower(gsub("-", "_", ddf)))
    res[[key]] <- tab(as.data.frame(anova(m, type = type, ddf = ddf)))
  }
  out[[id]] <- res
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = TRUE),
           "tests/reference/extra_anova.json")
