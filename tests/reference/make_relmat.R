# References for a known covariance over the levels of a grouping factor (a relationship / kinship matrix), as
# pedigreemm and lme4qtl fit it: lme4's lFormula, the term's rows of Zt premultiplied by the upper Cholesky factor
# R of K (K = R'R), then lme4's own deviance function and optimizer. Random effects reported as lme4qtl's ranef:
# b = R' v, with conditional variances R' Var(v | y) R (per level: the diagonal).
# The data are simulated here (seeded) and written to tests/reference/data/relmat_data.csv and relmat_K.csv:
# 240 animals with a genomic relationship matrix from 600 simulated markers (K = GRM + 0.01 I), 40 more animals in
# K without records (the fit uses K's rows and columns of the animals in the data), one or two records per animal,
# 12 herds, a sex effect.
# Run from the repository root: Rscript tests/reference/make_relmat.R  (writes tests/reference/extra_relmat.json)
suppressMessages({library(lme4); library(jsonlite)})
set.seed(20261126)
n_an <- 280; n_snp <- 600
p <- runif(n_snp, 0.1, 0.5)
G <- sapply(p, function(pj) rbinom(n_an, 2, pj))
Zs <- scale(G, center = 2 * p, scale = FALSE)
K <- tcrossprod(Zs) / sum(2 * p * (1 - p)) + diag(0.01, n_an)
ids <- sprintf("a%03d", seq_len(n_an))
dimnames(K) <- list(ids, ids)
with_records <- sort(sample(ids, 240))
n_rec <- sample(1:2, 240, replace = TRUE)
animal <- rep(with_records, n_rec)
n <- length(animal)
herd <- sprintf("h%02d", sample(1:12, n, replace = TRUE))
sex <- sample(c("F", "M"), n, replace = TRUE)
a <- drop(t(chol(K[with_records, with_records])) %*% rnorm(240, sd = sqrt(2)))
names(a) <- with_records
y <- 10 + 0.8 * (sex == "M") + a[animal] + rnorm(12, sd = 0.7)[as.integer(factor(herd))] + rnorm(n, sd = 1.3)
d <- data.frame(y = round(y, 4), sex = sex, herd = herd, animal = animal)
dir.create("tests/reference/data", showWarnings = FALSE)
write.csv(d, "tests/reference/data/relmat_data.csv", row.names = FALSE)
write.csv(round(K, 10), "tests/reference/data/relmat_K.csv")
K <- as.matrix(read.csv("tests/reference/data/relmat_K.csv", row.names = 1, check.names = FALSE))
d <- read.csv("tests/reference/data/relmat_data.csv", stringsAsFactors = TRUE)

relmat_lmer <- function(formula, data, relmat, REML) {
  ctrl <- lmerControl(check.nobs.vs.nlev = "ignore", check.nobs.vs.nRE = "ignore")
  lf <- lFormula(formula, data = data, REML = REML, control = ctrl)
  fl <- lf$reTrms$flist
  for (g in names(relmat)) {
    i <- which(names(lf$reTrms$cnms) == g)
    lev <- levels(fl[[g]])
    R <- chol(relmat[[g]][lev, lev])
    rows <- (lf$reTrms$Gp[i] + 1):lf$reTrms$Gp[i + 1]
    lf$reTrms$Zt[rows, ] <- R %*% lf$reTrms$Zt[rows, ]
  }
  dev <- do.call(mkLmerDevfun, lf)
  opt <- optimizeLmer(dev, control = list(xtol_abs = 1e-10, ftol_abs = 1e-12))
  fit <- mkMerMod(environment(dev), opt, lf$reTrms, fr = lf$fr)
  list(fit = fit, lf = lf, relmat = relmat)
}

summarize <- function(id, formula, REML) {
  r <- relmat_lmer(formula, d, list(animal = K), REML)
  fit <- r$fit
  lev <- levels(d$animal)
  R <- chol(K[lev, lev])
  re <- ranef(fit, condVar = TRUE)
  v <- re$animal[, 1]
  b <- drop(t(R) %*% v)
  # conditional variance of b: R' Var(v | y) R, Var(v | y) from the full (dense) conditional covariance
  s2 <- sigma(fit)^2
  Lam <- getME(fit, "Lambda"); Zt <- getME(fit, "Zt")
  M <- as.matrix(crossprod(Lam, Zt) %*% t(crossprod(Lam, Zt))) + diag(nrow(Lam))
  Cv <- s2 * as.matrix(Lam %*% solve(M) %*% t(Lam))
  Gp <- getME(fit, "Gp"); ia <- which(names(getME(fit, "cnms")) == "animal")
  rows <- (Gp[ia] + 1):Gp[ia + 1]
  cond_var <- diag(t(R) %*% Cv[rows, rows] %*% R)
  vc <- as.data.frame(VarCorr(fit))
  list(id = id, engine = paste("lme4", packageVersion("lme4"), "(lFormula + relationship factor, as lme4qtl)"),
       model = paste(deparse(formula), collapse = ""), method = if (REML) "REML" else "ML", nobs = nrow(d),
       loglik = as.numeric(logLik(fit)), deviance = if (REML) REMLcrit(fit) else deviance(fit),
       fixef = as.list(fixef(fit)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
       sd = setNames(as.list(vc$sdcor), vc$grp), sigma = sigma(fit), theta = unname(getME(fit, "theta")),
       ranef_animal = setNames(as.list(b), lev), condvar_animal = setNames(as.list(cond_var), lev))
}

out <- list(
  relmat_animal_herd_reml = summarize("relmat_animal_herd_reml", y ~ sex + (1 | animal) + (1 | herd), TRUE),
  relmat_animal_ml = summarize("relmat_animal_ml", y ~ sex + (1 | animal), FALSE),
  `_meta` = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                 note = "K from relmat_K.csv (280 animals); data relmat_data.csv (240 animals with records)")
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/extra_relmat.json")
