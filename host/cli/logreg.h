/* logreg.h — multinomial logistic regression with L2 regularization, fitted by L-BFGS.
 *
 * Self-contained (libc + libm only): the linear probes of `clipcl probe` use it, and the
 * tests compile it on its own.
 *
 * The problem is scikit-learn's LogisticRegression(C, solver="lbfgs", fit_intercept=True)
 * in its multinomial form, for K >= 2 classes (scikit-learn fits K = 2 as a binomial model
 * instead: the multinomial K = 2 solution here has W[0] = -W[1], and W[1] - W[0] equals
 * scikit-learn's binary coef_ at C' = 2C):
 *
 *     minimize over W (K × d), b (K):
 *         L(W, b) = C · Σ_i CE(softmax(W x_i + b), y_i) + ½ ‖W − P‖²
 *
 * with P = 0 (ordinary ridge) or a prior weight matrix (the zero-shot classifier, for
 * few-shot probes that should stay near it when data are scarce). The intercept b is not
 * penalized; L is unchanged when a constant is added to every b_k, and the solution returned
 * is the one with Σ_k b_k = 0 (scikit-learn's lbfgs lands on the same one: the gradient in b
 * always sums to zero). With penalize_intercept, ½‖b‖² is added to L: then C → 0 gives
 * exactly (W, b) = (P, 0), the prior classifier, rather than P with intercepts fitted freely
 * to the data. L is strictly convex in W, so the optimum does not depend on the starting
 * point: a start (init) only saves iterations.
 *
 * Convergence: the optimizer works on L / (C·n), the mean cross-entropy plus the scaled
 * penalty, like scikit-learn since 1.1, and stops when
 *   - the largest absolute gradient component of L / (C·n) is <= tol (converged = 1), or
 *   - an iteration lowers L / (C·n) by no more than ftol × max(1, |value|) (converged = 2;
 *     scikit-learn's rule, with its ftol 64 × DBL_EPSILON as the default; ftol = 0 turns it
 *     off), or the line search finds no lower point (converged = 2: the limit of double
 *     precision), or
 *   - max_iter iterations have run (converged = 0: the result is the best point reached).
 * Defaults: tol 1e-6, ftol 64 × DBL_EPSILON, max_iter 1000 (the CLIP paper's cap), 10
 * correction pairs.
 * The line search satisfies the strong Wolfe conditions (c1 = 1e-4, c2 = 0.9). */
#ifndef CLIPCL_CLI_LOGREG_H
#define CLIPCL_CLI_LOGREG_H

#include <stddef.h>

typedef struct lr_params {
    double C;                /* inverse regularization strength, > 0 */
    int max_iter;            /* iteration cap (>= 1) */
    double tol;              /* gradient tolerance on L / (C·n), > 0 */
    double ftol;             /* relative decrease that counts as no progress, >= 0 */
    int memory;              /* L-BFGS correction pairs, 1..100 */
    const double *prior;     /* K × d: the penalty is ½‖W − prior‖²; NULL = 0 */
    int penalize_intercept;  /* add ½‖b‖² to L (default 0, as scikit-learn) */
    const double *init_W;    /* K × d start; NULL = prior (or 0) */
    const double *init_b;    /* K start; NULL = 0 */
} lr_params;

typedef struct lr_result {
    int iterations;          /* L-BFGS iterations done */
    int evaluations;         /* loss + gradient evaluations */
    int converged;           /* 1 gradient tolerance, 2 no more progress possible, 0 cap hit */
    double loss;             /* L(W, b) as defined above */
    double grad_max;         /* max |∂(L / (C·n))| at the result */
} lr_result;

enum { LR_OK = 0, LR_EINVAL = -1, LR_ENOMEM = -2 };

lr_params lr_default_params(void);

/* Fits the model on n rows of X (n × d, row-major floats) with labels y[i] in 0..K-1.
 * Writes W (K × d) and b (K). Needs n >= 1, d >= 1, K >= 2, n·d and K·d below 2^31.
 * Returns LR_OK, LR_EINVAL (bad sizes, label, C, tol or a non-finite input) or LR_ENOMEM;
 * res (may be NULL) is filled on LR_OK. */
int lr_fit(const float *X, const int *y, int n, int d, int K, const lr_params *p, double *W, double *b,
           lr_result *res);

/* L(W, b) of the definition above for given weights (prior may be NULL). */
double lr_loss(const float *X, const int *y, int n, int d, int K, double C, const double *prior, int penalize_intercept,
               const double *W, const double *b);

/* Class probabilities softmax(W x + b) of one row x (d floats) into prob (K doubles). */
void lr_predict(const double *W, const double *b, int d, int K, const float *x, double *prob);

#endif
