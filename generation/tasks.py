from celery import shared_task

from generation import services


@shared_task(name="generation.run_generation_request", ignore_result=True)
def run_generation_request(request_id: int) -> str:
    # Thin on purpose: the claim inside the service makes a duplicate delivery harmless.
    return services.generation_request_execute(request_id=request_id)
